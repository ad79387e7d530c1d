# pragma version 0.4.3
# pragma evm-version cancun
# pragma optimize gas
"""
@title gridledger payment token
@notice ERC-20 in integer micro-units of the community currency (6 decimals). Only the city's
        issuer mints; any holder burns its own tokens. Supply changes only through mint and burn.
"""

from ethereum.ercs import IERC20

implements: IERC20

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event IssuerChanged:
    previous: indexed(address)
    issuer: indexed(address)

name: public(String[32])
symbol: public(String[8])
decimals: public(constant(uint8)) = 6
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
issuer: public(address)


@deploy
def __init__(name: String[32], symbol: String[8], issuer: address):
    assert issuer != empty(address), "the issuer cannot be the zero address"
    self.name = name
    self.symbol = symbol
    self.issuer = issuer
    log IssuerChanged(previous=empty(address), issuer=issuer)


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "cannot transfer to the zero address; burn instead"
    balance: uint256 = self.balanceOf[sender]
    assert balance >= amount, "balance too low"
    self.balanceOf[sender] = unsafe_sub(balance, amount)
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    allowed: uint256 = self.allowance[sender][msg.sender]
    if allowed != max_value(uint256):
        assert allowed >= amount, "allowance too low"
        self.allowance[sender][msg.sender] = unsafe_sub(allowed, amount)
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def mint(receiver: address, amount: uint256):
    assert msg.sender == self.issuer, "only the issuer mints"
    assert receiver != empty(address), "cannot mint to the zero address"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def burn(amount: uint256):
    balance: uint256 = self.balanceOf[msg.sender]
    assert balance >= amount, "balance too low"
    self.balanceOf[msg.sender] = unsafe_sub(balance, amount)
    self.totalSupply -= amount
    log Transfer(sender=msg.sender, receiver=empty(address), value=amount)


@external
def set_issuer(issuer: address):
    assert msg.sender == self.issuer, "only the issuer hands over the issuer role"
    assert issuer != empty(address), "the issuer cannot be the zero address"
    log IssuerChanged(previous=self.issuer, issuer=issuer)
    self.issuer = issuer
