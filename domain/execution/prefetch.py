"""A hint to the CPU to bring an array's element into its caches ahead of its use.

The kernel reads some columns only at a few bars (a bar's open at a fill): each such read
would wait on main memory, where a sequential pass lets the hardware stream the data. A
prefetch some bars ahead hides that wait. It is only a hint: it changes no result and never
faults, even past the end of the array.
"""

from collections.abc import Callable
from typing import Any, cast

import numpy.typing as npt

from domain.compiled_cache import intrinsic, llvm_ir, types

_LLVM_PREFETCH = "llvm.prefetch.p0"


@intrinsic
def _prefetch(typingctx: Any, values: Any, index: Any) -> Any:
    if not isinstance(values, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array = context.make_array(values)(context, builder, args[0])
        pointer = builder.gep(array.data, [args[1]])  # no bounds check: a hint never faults
        byte_pointer = llvm_ir.IntType(8).as_pointer()
        i32 = llvm_ir.IntType(32)
        module = builder.module
        function = module.globals.get(_LLVM_PREFETCH) or llvm_ir.Function(
            module,
            llvm_ir.FunctionType(llvm_ir.VoidType(), [byte_pointer, i32, i32, i32]),
            _LLVM_PREFETCH,
        )
        # A read, kept in every cache level, of data.
        builder.call(function, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(values, index), codegen


# prefetch(values, index), in compiled code: bring values[index] (a 1-d array's) into the caches.
prefetch = cast(Callable[[npt.NDArray[Any], int], None], _prefetch)
