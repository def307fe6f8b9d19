"""``fence(x)``: the CUDA twin of ``policy.fence`` for kernels that compute several ops per
element (numtorch.compile's fused elementwise chains).

``fence(x)`` is ``x``, bit for bit, but neither NVVM nor ptxas contracts a multiply before it
with an add after it into an FMA, so a fused kernel rounds each intermediate exactly as separate
kernels, which store it, do. NVVM contracts ``mul.f32`` + ``add.f32`` into ``fma.rn.f32`` by
default (its ``-fma=1``; numba-cuda exposes no per-kernel switch), across inlined device
functions too, and ptxas contracts what NVVM left (``--fmad=true``). What stops both, checked on
sm_90 SASS from libNVVM 13.5 and ptxas 13.0:
- ``policy.fence`` (``llvm.arithmetic.fence``) stops NVVM but reaches the PTX as a call to an
  undefined function: ptxas rejects it;
- an inline-asm ``mov`` stops NVVM only: ptxas sees through it and emits FFMA;
- an inline-asm ``add.rn`` of -0.0 stops both (PTX never contracts an instruction with an explicit
  rounding mode, and ptxas keeps it: ``FADD R, -RZ, R``). x + -0.0 is x for every non-NaN x
  (signed zeros included); a GPU add returns the canonical NaN for NaN, so a NaN takes the
  untouched ``x`` instead (``setp.nan``, a predicated ``mov``): 2 instructions per float32
  intermediate (4 for float64), no memory traffic.
Integers and bools pass through (nothing to contract). In the simulator, kernels run as Python
and store nothing in registers: ``fence`` is the identity there.
"""
import numba

if numba.config.ENABLE_CUDASIM:
    def fence(x):
        """``x`` (Numba's CUDA simulator runs kernels as Python: nothing to fence)."""
        return x
else:
    import llvmlite.ir
    from numba.core import types
    from numba.extending import intrinsic

    _ASM = ("{ .reg .pred %p; setp.nan.fB %p, $1, $1; add.rn.fB $0, $1, Z; "
            "@%p mov.fB $0, $1; }")
    _ZERO = {32: "0f80000000", 64: "0d8000000000000000"}  # -0.0

    @intrinsic
    def fence(typingctx, x):
        """``x``, with no FMA contraction across it (see the module docstring)."""
        sig = x(x)
        if not (isinstance(x, types.Float) and x.bitwidth in _ZERO):
            return sig, lambda context, builder, signature, args: args[0]
        bits = x.bitwidth
        asm = _ASM.replace("B", str(bits)).replace("Z", _ZERO[bits])
        reg = "f" if bits == 32 else "d"

        def codegen(context, builder, signature, args):
            (v,) = args
            fnty = llvmlite.ir.FunctionType(v.type, [v.type])
            return builder.asm(fnty, asm, f"={reg},{reg}", [v], side_effect=False)
        return sig, codegen
