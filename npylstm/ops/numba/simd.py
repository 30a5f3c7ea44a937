"""Sixteen-lane vectors for the compiled kernels: the register-blocked products need them.

Numba compiles loops over arrays, and LLVM vectorizes them, but it keeps a loop's
accumulators in memory: ``out[j] += v[k] * m[k, j]`` loads and stores ``out`` for every
``k`` (Numba's arrays may alias, so LLVM cannot keep them in registers, and each short loop
also checks at run time that its arrays do not overlap). A matrix product's micro-kernel
keeps a block of outputs in registers for the whole sum over ``k`` instead, loading each
weight once per block of rows. This module gives Numba code the values that lets it write:

* :class:`Vec`, the Numba type of an LLVM vector of :data:`LANES` = 16 floats of one dtype
  (``<16 x float>``, one AVX-512 register, or ``<16 x double>``, two; LLVM splits it into
  AVX2 registers on CPUs without AVX-512);
* :func:`vload`, :func:`vstore` (``a[i : i + 16]`` of a 1-D C-contiguous array, with no
  bounds check: the caller's indices must be in range), :func:`vstore_lo`,
  :func:`vstore_hi` (its first or last :data:`HALF` = 8 lanes at ``a[i : i + 8]``),
  :func:`vload_first`, :func:`vstore_first` (only the first ``count`` lanes, masked: the
  others read as zero and are not written, and nothing past them is touched),
  :func:`vsplat` (one value in every lane), :func:`vzeros`, :func:`vfma` (``a * b + c``
  with one rounding, LLVM's ``llvm.fma``; the issue's decision allows fused multiply-adds,
  which keep NaN and ±inf semantics) and :func:`vadd`;
* :func:`copy_half`, which copies up to :data:`HALF` values with one masked load and one
  masked store (between the kernels' padded rows and packed ones, in either direction).

Every operation is lane by lane, so lane ``j`` of a result is exactly what the scalar
expression computes for element ``j``: a row computed in a block of rows or alone gets the
same bits when its operations are the same (``products.py`` relies on this).

This module defines no jitted functions, only the type and intrinsics the kernels compile
in; the modules that use it list its SHA-256 in their ``HELPERS_SOURCE_SHA256``.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

__all__ = ["LANES", "HALF", "Vec", "vload", "vstore", "vstore_lo", "vstore_hi", "vload_first",
           "vstore_first", "vsplat", "vzeros", "vfma", "vadd", "copy_half"]

#: Lanes of every vector: 16 float32 (an AVX-512 register) or 16 float64 (two).
LANES = 16

#: Lanes of a half vector (:func:`vstore_lo`, :func:`vstore_hi`).
HALF = LANES // 2


class Vec(types.Type):
    """A vector of :data:`LANES` values of ``dtype`` (``types.float32`` or ``float64``)."""

    def __init__(self, dtype: types.Float) -> None:
        self.dtype = dtype
        super().__init__(name=f"Vec({dtype} x {LANES})")


@register_model(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type: Vec) -> None:
        element = ir.FloatType() if fe_type.dtype == types.float32 else ir.DoubleType()
        super().__init__(dmm, fe_type, ir.VectorType(element, LANES))


def _contiguous_floats(arr) -> bool:
    return (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"
            and arr.dtype in (types.float32, types.float64))


def _element_pointer(context, builder, arr_type, arr, index, vector_type):
    """A pointer to ``arr[index]`` typed as a pointer to a vector."""
    ary = context.make_array(arr_type)(context, builder, arr)
    ptr = builder.gep(ary.data, [index], inbounds=True)
    return builder.bitcast(ptr, ir.PointerType(vector_type))


@intrinsic
def vload(typingctx, arr, index):
    """``arr[index : index + LANES]`` of a 1-D C-contiguous float array (no bounds check)."""
    if not (_contiguous_floats(arr) and isinstance(index, types.Integer)):
        return None
    sig = Vec(arr.dtype)(arr, index)

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(sig.return_type)
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], vector_type)
        return builder.load(ptr, align=context.get_abi_alignment(vector_type.element))

    return sig, codegen


@intrinsic
def vstore(typingctx, arr, index, v):
    """``arr[index : index + LANES] = v`` (no bounds check)."""
    if not (_contiguous_floats(arr) and isinstance(index, types.Integer)
            and isinstance(v, Vec) and v.dtype == arr.dtype):
        return None
    sig = types.none(arr, index, v)

    def codegen(context, builder, sig, args):
        vector_type = args[2].type
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], vector_type)
        builder.store(args[2], ptr, align=context.get_abi_alignment(vector_type.element))
        return context.get_dummy_value()

    return sig, codegen


def _lane_mask(builder, count, lanes: int):
    """``<lanes x i1>``: lane < count (``count`` an i64, possibly negative or above lanes)."""
    splat = builder.insert_element(ir.Constant(ir.VectorType(ir.IntType(64), lanes),
                                               ir.Undefined), count,
                                   ir.Constant(ir.IntType(32), 0))
    splat = builder.shuffle_vector(splat, splat,
                                   ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
    index = ir.Constant(ir.VectorType(ir.IntType(64), lanes), list(range(lanes)))
    return builder.icmp_signed("<", index, splat)


def _masked(builder, op: str, vector_type, ptr, align: int, mask, value=None):
    """``llvm.masked.load`` (returns the vector, zeros where masked) or ``.store``."""
    bits = 32 if vector_type.element == ir.FloatType() else 64
    name = f"llvm.masked.{op}.v{vector_type.count}f{bits}.p0"
    align = ir.Constant(ir.IntType(32), align)
    if op == "load":
        fn = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(vector_type, [ptr.type, align.type, mask.type, vector_type]), name)
        return builder.call(fn, [ptr, align, mask, ir.Constant(vector_type, None)])
    fn = cgutils.get_or_insert_function(
        builder.module,
        ir.FunctionType(ir.VoidType(), [vector_type, ptr.type, align.type, mask.type]), name)
    return builder.call(fn, [value, ptr, align, mask])


@intrinsic
def vload_first(typingctx, arr, index, count):
    """``arr[index : index + count]`` in the first ``count`` lanes, zeros in the others (a
    masked load: nothing past them is read; ``count`` may be <= 0 or >= LANES)."""
    if not (_contiguous_floats(arr) and isinstance(index, types.Integer)
            and isinstance(count, types.Integer)):
        return None
    sig = Vec(arr.dtype)(arr, index, count)

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(sig.return_type)
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], vector_type)
        count = context.cast(builder, args[2], sig.args[2], types.int64)
        return _masked(builder, "load", vector_type, ptr,
                       context.get_abi_alignment(vector_type.element),
                       _lane_mask(builder, count, LANES))

    return sig, codegen


@intrinsic
def vstore_first(typingctx, arr, index, v, count):
    """``arr[index : index + count] = v[:count]`` (a masked store: nothing past ``count``
    lanes is written; ``count`` may be <= 0 or >= LANES)."""
    if not (_contiguous_floats(arr) and isinstance(index, types.Integer)
            and isinstance(v, Vec) and v.dtype == arr.dtype and isinstance(count, types.Integer)):
        return None
    sig = types.none(arr, index, v, count)

    def codegen(context, builder, sig, args):
        vector_type = args[2].type
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], vector_type)
        count = context.cast(builder, args[3], sig.args[3], types.int64)
        _masked(builder, "store", vector_type, ptr, context.get_abi_alignment(vector_type.element),
                _lane_mask(builder, count, LANES), args[2])
        return context.get_dummy_value()

    return sig, codegen


def _store_half(arr, index, v, upper: bool):
    """The signature and codegen of :func:`vstore_lo` / :func:`vstore_hi`."""
    if not (_contiguous_floats(arr) and isinstance(index, types.Integer)
            and isinstance(v, Vec) and v.dtype == arr.dtype):
        return None
    sig = types.none(arr, index, v)

    def codegen(context, builder, sig, args):
        first = HALF if upper else 0
        lanes = ir.Constant(ir.VectorType(ir.IntType(32), HALF), list(range(first, first + HALF)))
        half = builder.shuffle_vector(args[2], args[2], lanes)  # the HALF lanes to store
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], half.type)
        builder.store(half, ptr, align=context.get_abi_alignment(half.type.element))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def vstore_lo(typingctx, arr, index, v):
    """``arr[index : index + HALF] = v[:HALF]`` (no bounds check)."""
    return _store_half(arr, index, v, upper=False)


@intrinsic
def vstore_hi(typingctx, arr, index, v):
    """``arr[index : index + HALF] = v[HALF:]`` (no bounds check)."""
    return _store_half(arr, index, v, upper=True)


@intrinsic
def vsplat(typingctx, x):
    """``x`` (a float32 or float64 scalar) in every lane."""
    if x not in (types.float32, types.float64):
        return None
    sig = Vec(x)(x)

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(sig.return_type)
        one = builder.insert_element(ir.Constant(vector_type, ir.Undefined), args[0],
                                     ir.Constant(ir.IntType(32), 0))
        lanes_zero = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
        return builder.shuffle_vector(one, ir.Constant(vector_type, ir.Undefined), lanes_zero)

    return sig, codegen


@intrinsic
def vzeros(typingctx, arr):
    """A vector of zeros of ``arr``'s dtype (``arr``: any float array)."""
    if not (isinstance(arr, types.Array) and arr.dtype in (types.float32, types.float64)):
        return None
    sig = Vec(arr.dtype)(arr)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(sig.return_type), None)

    return sig, codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """``a * b + c`` lane by lane, rounded once (``llvm.fma``)."""
    if not (isinstance(a, Vec) and a == b == c):
        return None
    sig = a(a, b, c)

    def codegen(context, builder, sig, args):
        vector_type = args[0].type
        bits = 32 if sig.return_type.dtype == types.float32 else 64
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector_type, [vector_type] * 3),
            f"llvm.fma.v{LANES}f{bits}")
        return builder.call(fma, args)

    return sig, codegen


@intrinsic
def vadd(typingctx, a, b):
    """``a + b`` lane by lane."""
    if not (isinstance(a, Vec) and a == b):
        return None
    sig = a(a, b)

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])

    return sig, codegen


@intrinsic
def copy_half(typingctx, src, src_at, dst, dst_at, count):
    """``dst[dst_at : dst_at + count] = src[src_at : src_at + count]`` for ``count <= HALF``:
    one masked load and one masked store of :data:`HALF` lanes, the first ``count`` of them
    enabled (nothing of either array past them is read or written)."""
    ints = (src_at, dst_at, count)
    if not (_contiguous_floats(src) and _contiguous_floats(dst) and src.dtype == dst.dtype
            and all(isinstance(i, types.Integer) for i in ints)):
        return None
    sig = types.none(src, src_at, dst, dst_at, count)

    def codegen(context, builder, sig, args):
        half_type = ir.VectorType(context.get_value_type(sig.args[0].dtype), HALF)
        align = context.get_abi_alignment(half_type.element)
        src_ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], half_type)
        dst_ptr = _element_pointer(context, builder, sig.args[2], args[2], args[3], half_type)
        count = context.cast(builder, args[4], sig.args[4], types.int64)
        mask = _lane_mask(builder, count, HALF)
        values = _masked(builder, "load", half_type, src_ptr, align, mask)
        _masked(builder, "store", half_type, dst_ptr, align, mask, values)
        return context.get_dummy_value()

    return sig, codegen
