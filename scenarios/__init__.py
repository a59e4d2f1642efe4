"""The certification scenarios: requirements of a participant's plan as pytest tests (see README.md).

A package so that an installed dipcert (a wheel: this folder ships as `dipcert_scenarios`) collects
them with `pytest --pyargs dipcert_scenarios --dipcert-profile FILE`; from a checkout, `pytest
scenarios --dipcert-profile FILE`.
"""
