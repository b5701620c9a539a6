"""Every in-process Jupyter server in these tests runs kchat against the offline model and cluster."""

import pytest
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server", "jupyter_kchat.pytest_plugin", "kernel_support"]


@pytest.fixture
def jp_server_config(kchat_server_config: Config) -> Config:
    return kchat_server_config
