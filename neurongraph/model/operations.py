"""The ATen operations the model view reads, by name (without overload or in-place mark), in
the families :mod:`neurongraph.model.view` treats alike; the TorchScript translation
(:mod:`neurongraph.model.torchscript`) carries over the same set."""

#: Element-wise nonlinearities, by ATen name, and the name recorded on the layer they follow.
ACTIVATIONS = {
    "relu": "relu",
    "gelu": "gelu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "leaky_relu": "leakyrelu",
    "silu": "silu",
    "elu": "elu",
    "softplus": "softplus",
    "hardtanh": "hardtanh",
    "relu6": "relu6",
    "mish": "mish",
    "hardswish": "hardswish",
}
#: Other element-wise functions of one tensor.
ELEMENTWISE = {
    "dropout",
    "feature_dropout",
    "alpha_dropout",
    "feature_alpha_dropout",
    "clone",
    "contiguous",
    "alias",
    "detach",
    "lift_fresh_copy",
    "neg",
    "abs",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "pow",
    "square",
    "erf",
    "clamp",
    "clip",
    "reciprocal",
    "softmax",
    "_softmax",
    "log_softmax",
    "_log_softmax",
    "masked_fill",
    "where",
    "logical_not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
}
#: Dtype conversions: identities for floating results (the view runs in float64).
CASTS = {"to", "_to_copy", "type_as"}
#: Element-wise functions of two tensors.
BINARY = {"add", "sub", "mul", "div", "rsub"}
#: Operations that only move elements: applied to the unit map itself.
MOVES = {
    "view",
    "reshape",
    "_unsafe_view",
    "flatten",
    "unflatten",
    "permute",
    "transpose",
    "t",
    "squeeze",
    "unsqueeze",
    "expand",
    "slice",
    "select",
    "narrow",
    "split",
    "split_with_sizes",
    "chunk",
    "unbind",
    "cat",
    "stack",
    "index_select",
    "repeat",
}
#: Pooling over positions (every dimension after the channels).
POOLING = {
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
}
#: Reductions over the dimensions they name.
REDUCTIONS = {"mean", "sum", "amax", "amin", "max", "min", "var", "std", "norm", "logsumexp"}
BATCH_NORMS = {"batch_norm", "_native_batch_norm_legit_no_training"}
NORMS = {"layer_norm", "rms_norm", "group_norm", "native_layer_norm", "native_group_norm"}
WEIGHT_OPS = {"linear", "conv1d", "conv2d", "addmm", "mm", "matmul", "bmm"}
ATTENTION = "scaled_dot_product_attention"
#: Every ATen operation the view reads (by name, without overload or in-place mark).
READ_OPERATIONS = frozenset(
    {"embedding", ATTENTION}.union(
        ACTIVATIONS,
        ELEMENTWISE,
        CASTS,
        BINARY,
        MOVES,
        POOLING,
        REDUCTIONS,
        BATCH_NORMS,
        NORMS,
        WEIGHT_OPS,
    )
)
#: ATen operations that check shapes or types and compute nothing.
CHECKS = ("_assert", "sym_")
#: Operations on sizes.
SIZE_OPS = {"sym_size", "sym_numel", "sym_stride", "sym_storage_offset"}
