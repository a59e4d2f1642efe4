"""The certification run: one core shared by `dipcert run`, `dipcert demo` and the pytest scenarios.

`session.CertificationRun` opens a run (evidence folder, simulated DIP, partner), `context.RunContext`
is what each requirement's check code talks to, `requirements` runs one requirement and
`progress` draws the live view while `CertificationRun.execute` walks the plan.
"""
