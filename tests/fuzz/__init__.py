"""Helpers of tests/test_fuzz.py (the generative hardening suite): the sandbox that runs cases
in a forked child, the op-table loader, the op fuzzer, hostile checkpoint builders and the MPI
fault script (run by mpiexec, not imported)."""
