"""pytest-heval: grade LLM-written Rust code with pytest."""

__version__ = "0.1.0"
