"""Network architectures, one module each, looked up by name in ``registry``."""
