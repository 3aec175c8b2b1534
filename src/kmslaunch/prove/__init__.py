"""Proofs that a policy change grants nothing beyond what a launch needs, with the z3 SMT solver (optional extra
``prove``): ``regex`` and ``request`` (the symbolic request), ``encode`` (documents as formulas), ``launch`` (the
launch's requests), ``prove`` (the proof), ``counterexample`` (a request, decided again by the engine), ``fixes``
(the doctor's fixes, as the documents they change)."""
