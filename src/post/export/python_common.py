
_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def load_safetensors(path):
    """Read a safetensors file into a dict of CPU tensors (no package needed
    besides torch): an 8-byte little-endian header length, a JSON header
    naming each tensor's dtype, shape and byte range, then the raw data."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        if end > start:
            flat = torch.frombuffer(bytearray(data[base + start : base + end]), dtype=dtype)
        else:
            flat = torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"]).clone()
    return tensors


def load_weights(model, path):
    """Load nas-actor weights (safetensors) into `model`. Only BatchNorm's
    `num_batches_tracked` counters may be missing from the file (tch does not
    keep them); any other missing or unexpected name is an error."""
    result = model.load_state_dict(load_safetensors(path), strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"{path}: weights do not fit this model: missing {missing}, "
            f"unexpected {list(result.unexpected_keys)}"
        )
    return model
