"""One loader module per tokenizer family; each imports its library only when it loads."""

__all__: list[str] = []
