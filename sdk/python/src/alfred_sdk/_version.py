"""The SDK version, shared with the Node and Go SDKs (sdk/VERSION)."""

__version__ = "0.1.0"
