from __future__ import annotations

import inspect

import gridledger.errors as errors


def test_every_error_descends_from_the_root_and_is_drawn_in_the_tree() -> None:
    doc = errors.__doc__ or ""
    classes = [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if obj.__module__ == errors.__name__
    ]
    assert errors.GridLedgerError in classes
    for cls in classes:
        assert issubclass(cls, errors.GridLedgerError)
        assert cls.__name__ in doc, f"{cls.__name__} missing from the tree in errors.__doc__"
        assert cls.__doc__, f"{cls.__name__} has no docstring"


def test_validation_errors_are_value_errors() -> None:
    for cls in (errors.UnitError, errors.SlotError, errors.SignatureError, errors.OrderError):
        assert issubclass(cls, ValueError)
    assert not issubclass(errors.LedgerError, ValueError)


def test_contract_error_carries_reason() -> None:
    exc = errors.ContractError("transfer reverted", reason="insufficient balance")
    assert exc.reason == "insufficient balance"
