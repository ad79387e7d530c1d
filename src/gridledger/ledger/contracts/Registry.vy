# pragma version 0.4.3
# pragma evm-version cancun
# pragma optimize gas
"""
@title gridledger Registry
@notice Participants by role, each a pseudonymous address, and regions with their operator.
        The admin (the city) adds regions and names their operator; only a region's operator
        registers energy companies and devices in it; a household registers itself (or is
        registered by its region's operator). An address belongs to at most one region.
"""

ROLE_NONE: constant(uint8) = 0
ROLE_HOUSEHOLD: constant(uint8) = 1
ROLE_COMPANY: constant(uint8) = 2
ROLE_OPERATOR: constant(uint8) = 3
ROLE_DEVICE: constant(uint8) = 4

struct Participant:
    role: uint8
    region: bytes32

event AdminTransferred:
    previous: indexed(address)
    admin: indexed(address)

event RegionAdded:
    region: indexed(bytes32)
    operator: indexed(address)

event ParticipantRegistered:
    account: indexed(address)
    region: indexed(bytes32)
    role: uint8
    registrar: address

event ParticipantRemoved:
    account: indexed(address)
    region: indexed(bytes32)
    role: uint8
    registrar: address

admin: public(address)
operator_of: public(HashMap[bytes32, address])
participants: public(HashMap[address, Participant])


@deploy
def __init__():
    self.admin = msg.sender
    log AdminTransferred(previous=empty(address), admin=msg.sender)


@view
@external
def role_of(account: address) -> uint8:
    return self.participants[account].role


@view
@external
def region_of(account: address) -> bytes32:
    return self.participants[account].region


@external
def transfer_admin(admin: address):
    assert msg.sender == self.admin, "only the admin transfers the admin role"
    assert admin != empty(address), "the admin cannot be the zero address"
    log AdminTransferred(previous=self.admin, admin=admin)
    self.admin = admin


@external
def add_region(region: bytes32, operator: address):
    assert msg.sender == self.admin, "only the admin adds regions"
    assert region != empty(bytes32), "a region id is not zero"
    assert operator != empty(address), "a region operator is not the zero address"
    assert self.operator_of[region] == empty(address), "region exists already"
    assert self.participants[operator].role == ROLE_NONE, "operator is registered already"
    self.operator_of[region] = operator
    self.participants[operator] = Participant(role=ROLE_OPERATOR, region=region)
    log RegionAdded(region=region, operator=operator)
    log ParticipantRegistered(account=operator, region=region, role=ROLE_OPERATOR, registrar=msg.sender)


@external
def register(account: address, role: uint8, region: bytes32):
    operator: address = self.operator_of[region]
    assert operator != empty(address), "unknown region"
    assert account != empty(address), "cannot register the zero address"
    assert self.participants[account].role == ROLE_NONE, "account is registered already"
    if role == ROLE_HOUSEHOLD:
        assert msg.sender == account or msg.sender == operator, "a household registers itself or through its region operator"
    elif role == ROLE_COMPANY or role == ROLE_DEVICE:
        assert msg.sender == operator, "only the region operator registers companies and devices"
    else:
        raise "role must be household (1), company (2) or device (4)"
    self.participants[account] = Participant(role=role, region=region)
    log ParticipantRegistered(account=account, region=region, role=role, registrar=msg.sender)


@external
def register_many(accounts: DynArray[address, 512], role: uint8, region: bytes32):
    """@notice The region operator registers many accounts of one role at once (onboarding)."""
    assert msg.sender == self.operator_of[region], "only the region operator registers in bulk"
    assert role == ROLE_HOUSEHOLD or role == ROLE_COMPANY or role == ROLE_DEVICE, "role must be household (1), company (2) or device (4)"
    for account: address in accounts:
        assert account != empty(address), "cannot register the zero address"
        assert self.participants[account].role == ROLE_NONE, "account is registered already"
        self.participants[account] = Participant(role=role, region=region)
        log ParticipantRegistered(account=account, region=region, role=role, registrar=msg.sender)


@external
def deregister(account: address):
    p: Participant = self.participants[account]
    assert p.role != ROLE_NONE, "account is not registered"
    assert p.role != ROLE_OPERATOR, "a region operator cannot be removed"
    assert msg.sender == self.operator_of[p.region] or msg.sender == self.admin, "only the region operator or the admin removes participants"
    self.participants[account] = empty(Participant)
    log ParticipantRemoved(account=account, region=p.region, role=p.role, registrar=msg.sender)
