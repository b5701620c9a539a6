pytest_plugins = ["pytest_jupyter.jupyter_server", "jupyter_kchat.pytest_plugin", "kernel_support"]
