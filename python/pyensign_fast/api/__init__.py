"""pyensign-compatible import path for protobuf-generated modules."""
