"""``%kchat`` / ``%%kchat`` in an IPython shell, against the demo model and sample cluster.

The model and the cluster serve from background threads (the magic blocks the calling thread
while it waits), and the kernel runtime is configured explicitly: nothing here reads the
developer's ~/.jupyter, ~/.kube or OPENAI_* variables.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.lib.pretty import pretty
from IPython.utils.capture import capture_output
from traitlets.config import Config

from jupyter_kchat.kernel import KernelChat
from jupyter_kchat.magics import HELP, KChatMagics, split_options
from jupyter_kchat.sample.model_server import Fault
from jupyter_kchat.sample.offline import OfflineServices

pytestmark = pytest.mark.usefixtures("isolated")

POD_COLUMNS = {"namespace", "name", "phase", "ready", "restarts", "node", "reason"}


@pytest.fixture
def configure(services: OfflineServices, tmp_path: Path) -> Iterator[Any]:
    """``configure(**traits)``: install a ``KernelChat`` on the offline services."""

    def install(**traits: Any) -> KernelChat:
        settings: dict[str, Any] = {
            "model": "kchat-demo",
            "base_url": services.base_url,
            "api_key": "test-key",
            "kubeconfig": services.kubeconfig,
            "db_path": str(tmp_path / "history.sqlite3"),
            **traits,
        }
        return KernelChat.configure(Config({"KChat": settings}))

    yield install
    KernelChat.reset()


@pytest.fixture
def chat(configure: Any) -> KernelChat:
    return configure()


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InteractiveShell]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IPYTHONDIR", str(tmp_path_factory.mktemp("ipython")))
        shell = InteractiveShell.instance(
            config=Config({"HistoryManager": {"hist_file": ":memory:"}})
        )
        shell.extension_manager.load_extension("jupyter_kchat")
        yield shell
        InteractiveShell.clear_instance()


def run(shell: InteractiveShell, source: str) -> Any:
    """Run a cell as a notebook would and return its outputs, raising what it raised."""
    with capture_output() as captured:
        result = shell.run_cell(source, store_history=True)
    result.captured = captured
    if result.error_in_exec is not None:
        raise result.error_in_exec
    return result


def requests_since(services: OfflineServices, start: int) -> list[Any]:
    assert services.model_server is not None
    return services.model_server.requests[start:]


def user_messages(request: Any) -> list[str]:
    return [m["content"] for m in request.messages if m["role"] == "user"]


def test_help_documents_every_option(shell: InteractiveShell) -> None:
    result = run(shell, "%kchat --help")
    text = result.captured.stdout
    assert text == HELP + "\n"
    for option in ("--new", "--model", "--namespace", "--context", "to_dataframe()",
                   "OPENAI_API_KEY", "OPENAI_BASE_URL", "KUBECONFIG", "use_offline_demo",
                   "ChatWidget", "%%kchat"):
        assert option in text
    assert result.result is None
    assert run(shell, "%kchat -h").captured.stdout == text


def test_no_model_names_what_to_set(
    shell: InteractiveShell, configure: Any, services: OfflineServices,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(base_url=None, api_key=None)
    with pytest.raises(UsageError) as error:
        shell.run_line_magic("kchat", "list all pods")
    message = str(error.value)
    assert "OPENAI_API_KEY" in message and "OPENAI_BASE_URL" in message
    assert "KUBECONFIG" not in message
    assert "use_offline_demo()" in message

    assert services.base_url is not None and services.kubeconfig is not None
    monkeypatch.setenv("OPENAI_BASE_URL", services.base_url)
    monkeypatch.setenv("KUBECONFIG", services.kubeconfig)
    answer = shell.run_line_magic("kchat", "say configured in the kernel")
    assert answer.text == "configured in the kernel", "set after the error, used at once"


def test_no_cluster_names_kubeconfig(shell: InteractiveShell, configure: Any) -> None:
    configure(kubeconfig=None)
    with pytest.raises(UsageError) as error:
        shell.run_line_magic("kchat", "list all pods")
    message = str(error.value)
    assert "KUBECONFIG" in message
    assert "No model endpoint" not in message


def test_environment_defaults_configure_the_kernel(
    shell: InteractiveShell, services: OfflineServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no explicit config the kernel reads OPENAI_* and KUBECONFIG like the server."""
    assert services.base_url is not None and services.kubeconfig is not None
    monkeypatch.setenv("OPENAI_BASE_URL", services.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("KUBECONFIG", services.kubeconfig)
    KernelChat.reset()
    try:
        result = run(shell, "r = %kchat --new say configured from the environment")
        assert shell.user_ns["r"].text == "configured from the environment"
        assert result.result is None
    finally:
        KernelChat.reset()


def test_jupyter_config_file_and_server_export_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUPYTER_NO_CONFIG")
    config_dir = Path(os.environ["JUPYTER_CONFIG_DIR"])
    config_dir.mkdir(parents=True)
    (config_dir / "jupyter_server_config.py").write_text(
        "c.KChat.model = 'from-file'\nc.KChat.namespace = 'payments'\n"
    )
    monkeypatch.setenv("JUPYTER_KCHAT_CONFIG", orjson.dumps({"model": "from-server"}).decode())
    chat = KernelChat.configure(db_path=str(tmp_path / "h.sqlite3"))
    try:
        assert chat.settings.model == "from-server"
        assert chat.settings.namespace == "payments"
    finally:
        KernelChat.reset()


def test_list_all_pods_streams_into_one_display_and_returns_rows(
    shell: InteractiveShell, chat: KernelChat, services: OfflineServices
) -> None:
    result = run(shell, "pods = %kchat list all pods")
    answer = shell.user_ns["pods"]
    assert [call.name for call in answer.tool_calls] == ["list_pods"]
    call = answer.tool_calls[0]
    assert call.status == "completed" and call.arguments == {"all_namespaces": True}
    assert services.cluster is not None
    frame = answer.to_dataframe()
    assert POD_COLUMNS <= set(frame.columns)
    assert len(frame) == services.cluster.pod_count
    assert set(frame["namespace"]) == {ns for ns, _ in services.cluster.objects["pods"]}
    assert answer.text and answer.text in pretty(answer)
    outputs = result.captured.outputs
    display_ids = {output.transient["display_id"] for output in outputs}
    assert len(display_ids) == 1, "one display, updated in place"
    assert not outputs[0].update and all(output.update for output in outputs[1:])
    assert all("text/markdown" not in output.data for output in outputs), (
        "Markdown would let the front end load the images an answer names"
    )
    final = outputs[-1].data["text/html"]
    assert "list_pods" in final and f"{services.cluster.pod_count:,} rows" in final
    first_problem = frame.iloc[0]
    assert first_problem["reason"] and first_problem["name"] in final
    plain = outputs[-1].data["text/plain"]
    assert answer.text in plain, "not the cell's value (assigned), so the live view keeps it"
    assert KChatMagics.last is answer


def test_answer_as_cell_value_is_not_repeated_in_the_live_view(
    shell: InteractiveShell, chat: KernelChat
) -> None:
    result = run(shell, "%kchat --new say shown once")
    assert result.result.text == "shown once"
    assert "shown once" in result.result._repr_html_()
    assert result.captured.outputs[-1].data == {"text/plain": ""}, "the cell's value shows it"
    assert repr(result.result).startswith("<ChatResult conversation=")


def test_long_stream_updates_the_display_a_bounded_number_of_times(
    shell: InteractiveShell, chat: KernelChat
) -> None:
    result = run(shell, "r = %kchat --new stream 3000 chunks")
    answer = shell.user_ns["r"]
    assert len(answer.events) > 3000
    assert len(result.captured.outputs) < 100
    assert result.captured.outputs[-1].data["text/plain"].startswith(answer.text)


def test_successive_magics_continue_one_conversation_and_new_starts_another(
    shell: InteractiveShell, chat: KernelChat, services: OfflineServices
) -> None:
    start = len(services.model_server.requests)  # type: ignore[union-attr]
    first = shell.run_line_magic("kchat", "--new say one")
    second = shell.run_line_magic("kchat", "say two")
    third = shell.run_line_magic("kchat", "--new say three")
    assert first.conversation_id == second.conversation_id != third.conversation_id
    requests = requests_since(services, start)
    assert user_messages(requests[1]) == ["say one", "say two"]
    assert user_messages(requests[2]) == ["say three"]
    stored = chat.history(second.conversation_id)
    assert stored is not None
    assert [m["content"] for m in stored["messages"] if m["role"] == "user"] == [
        "say one", "say two"
    ]


def test_cell_magic_takes_the_cell_body_as_the_question(
    shell: InteractiveShell, chat: KernelChat
) -> None:
    result = run(shell, "%%kchat --new\nsay from the cell body\n")
    assert result.result.text == "from the cell body"
    assert result.result.question == "say from the cell body"


def test_namespace_option_reaches_the_tool_context(
    shell: InteractiveShell, chat: KernelChat
) -> None:
    answer = shell.run_line_magic("kchat", "--new --namespace payments list pods")
    call = answer.tool_calls[0]
    assert call.name == "list_pods" and "namespace" not in call.arguments
    namespaces = set(answer.to_dataframe()["namespace"])
    assert namespaces == {"payments"}
    short = shell.run_line_magic("kchat", "--new -n kube-system list pods")
    assert set(short.to_dataframe()["namespace"]) == {"kube-system"}


def test_model_and_context_options_apply_to_one_question(
    shell: InteractiveShell, chat: KernelChat, services: OfflineServices
) -> None:
    start = len(services.model_server.requests)  # type: ignore[union-attr]
    answer = shell.run_line_magic(
        "kchat", "--new --model other-model --context sample-readonly list pods in payments"
    )
    shell.run_line_magic("kchat", "say back to the default")
    requests = requests_since(services, start)
    assert requests[0].body["model"] == "other-model"
    assert requests[-1].body["model"] == "kchat-demo"
    assert answer.tool_calls[0].status == "completed"


def test_unknown_context_is_reported_by_the_tool(shell: InteractiveShell, chat: KernelChat) -> None:
    answer = shell.run_line_magic("kchat", "--new --context nowhere list pods")
    assert answer.tool_calls[0].status == "error"
    assert "nowhere" in answer.tool_calls[0].result


@pytest.mark.parametrize(
    ("line", "question"),
    [
        ("what's wrong?", "what's wrong?"),
        ("--namespace payments what's \"up\" with payments-api?",
         "what's \"up\" with payments-api?"),
        ("--namespace=payments it's 'quoted'", "it's 'quoted'"),
        ("-- --new is not an option here", "--new is not an option here"),
    ],
)
def test_questions_are_taken_verbatim(
    shell: InteractiveShell, chat: KernelChat, services: OfflineServices, line: str,
    question: str,
) -> None:
    """Through IPython's input transformation, where a trailing ``?`` means "help"."""
    assert split_options(line)[1] == question
    start = len(services.model_server.requests)  # type: ignore[union-attr]
    shown = run(shell, f"%kchat --new {line}").result
    assigned = run(shell, f"answer = %kchat --new {line}")
    assert assigned.result is None
    indented = run(shell, f"if True:\n    indented = %kchat --new {line}\n")
    assert indented.result is None
    for answer in (shown, shell.user_ns["answer"], shell.user_ns["indented"]):
        assert answer.question == question
    for request in requests_since(services, start):
        assert user_messages(request) == [question]


def test_question_mark_after_the_magic_name_still_shows_its_help(
    shell: InteractiveShell,
) -> None:
    result = run(shell, "%kchat?")
    assert "Ask kchat a question" in result.captured.stdout


@pytest.mark.parametrize(
    ("line", "complaint"),
    [("", "Ask a question"), ("--new", "Ask a question"), ("--frobnicate list pods", "frobnicate")],
)
def test_usage_errors(shell: InteractiveShell, chat: KernelChat, line: str, complaint: str) -> None:
    with pytest.raises(UsageError, match=complaint):
        shell.run_line_magic("kchat", line)


def test_to_dataframe_without_rows_says_why(shell: InteractiveShell, chat: KernelChat) -> None:
    answer = shell.run_line_magic("kchat", "--new say no table here")
    with pytest.raises(ValueError, match="no table"):
        answer.to_dataframe()


def test_conversation_started_in_the_kernel_is_in_the_history_store(
    shell: InteractiveShell, chat: KernelChat
) -> None:
    answer = shell.run_line_magic("kchat", "--new list pods in payments")

    async def listed() -> list[dict[str, Any]]:
        return await chat.store.list_conversations()

    conversations = chat._submit(listed()).result(30)
    assert answer.conversation_id in [c["id"] for c in conversations]
    stored = chat.history(answer.conversation_id)
    assert stored is not None
    tools = [m["tool"] for m in stored["messages"] if m.get("tool")]
    assert tools and tools[0]["tool_name"] == "list_pods" and tools[0]["data"]


def test_changes_ask_in_the_cell(
    shell: InteractiveShell, configure: Any, services: OfflineServices,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(read_only=False)
    assert services.cluster is not None
    victims = [name for ns, name in services.cluster.objects["pods"]
               if ns == "payments" and name.startswith("payments-api")][:2]
    prompts: list[str] = []
    answers = iter(["y", "n"])

    def fake_input(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)
    results = []
    for name in victims:
        args = orjson.dumps({"name": name, "namespace": "payments"}).decode()
        results.append(shell.run_line_magic("kchat", f"--new call tool delete_pod with {args}"))
    assert [r.tool_calls[0].status for r in results] == ["completed", "denied"]
    assert all(name in prompt for name, prompt in zip(victims, prompts))
    assert services.cluster.get("pods", "payments", victims[0]) is None
    assert services.cluster.get("pods", "payments", victims[1]) is not None


def test_interrupt_stops_the_turn_and_keeps_the_partial_answer(
    shell: InteractiveShell, chat: KernelChat, services: OfflineServices
) -> None:
    model = services.model_server
    assert model is not None
    shell.run_line_magic("kchat", "--new say before")
    model.faults.push(Fault.hang())
    # The interrupt comes when the model is hanging, however long the machine takes to get
    # there: a deadline here that ran out first would leave the turn to the client's clocks.
    hanging = model.submit(model.wait_for_request(len(model.requests) + 1))

    def interrupt(arrived: concurrent.futures.Future[Any]) -> None:
        if not arrived.cancelled() and arrived.exception() is None:
            os.kill(os.getpid(), signal.SIGINT)

    hanging.add_done_callback(interrupt)
    try:
        answer = shell.run_line_magic("kchat", "say never finished")
    except KeyboardInterrupt:
        pytest.fail("the interrupt escaped the magic instead of cancelling the turn")
    finally:
        hanging.cancel()
    assert answer.cancelled
    assert "Stopped." in answer._repr_html_() and "Stopped." in pretty(answer)
    after = shell.run_line_magic("kchat", "say after")
    assert after.conversation_id == answer.conversation_id and after.text == "after"


async def test_kernel_conversation_shows_in_the_server_history(
    jp_fetch: Any, services: OfflineServices, kchat_db_path: str,
    jp_server_config: Any,
) -> None:
    """The panel lists conversations from the same history file the kernel writes."""
    chat = KernelChat.configure(Config({"KChat": {
        "model": "kchat-demo", "base_url": services.base_url, "api_key": "k",
        "kubeconfig": services.kubeconfig, "db_path": kchat_db_path,
    }}))
    try:
        events = await asyncio.to_thread(lambda: list(chat.ask("say from a notebook")))
        conversation_id = events[-1]["data"]["conversation_id"]
        response = await jp_fetch("api", "kchat", "conversations")
        listed = orjson.loads(response.body)["conversations"]
        assert conversation_id in [c["id"] for c in listed]
        response = await jp_fetch("api", "kchat", "conversations", conversation_id)
        messages = orjson.loads(response.body)["messages"]
        assert [m["content"] for m in messages] == ["say from a notebook", "from a notebook"]
    finally:
        KernelChat.reset()


def test_offline_demo_keeps_a_configured_model_and_reuses_its_services(
    shell: InteractiveShell, services: OfflineServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_kchat.sample import offline

    assert services.base_url is not None
    monkeypatch.setenv("OPENAI_BASE_URL", services.base_url)
    try:
        demo = offline.use_offline_demo(pods=40)
        assert "(configured)" in demo.model and services.base_url in demo.model
        assert demo.services.model_server is None and demo.services.kube_api is not None
        assert demo.chat is KernelChat.instance()
        assert demo.chat.settings.kubeconfig == demo.services.kubeconfig
        assert "sample cluster (" in demo._repr_markdown_()
        answer = run(shell, "r = %kchat --new list pods in payments")
        assert answer.result is None
        assert shell.user_ns["r"].to_dataframe()["namespace"].eq("payments").all()
        again = offline.use_offline_demo(pods=40)
        assert again.services is demo.services and again.chat is not demo.chat
        forced = offline.use_offline_demo(pods=40, force=True, read_only=False)
        assert forced.services.model_server is not None
        assert forced.chat.settings.base_url == forced.services.base_url
        assert forced.chat.settings.read_only is False
        assert "the demo model at http://127.0.0.1:" in repr(forced)
    finally:
        offline.stop_offline_demo()
    assert KernelChat._instance is None


def test_tool_blocks_stream_into_the_live_display(
    shell: InteractiveShell, chat: KernelChat
) -> None:
    """The block appears while the tool runs and fills in when it ends, in the same display."""
    result = run(shell, "r = %kchat --new list pods in payments")
    shown = [output.data["text/html"] for output in result.captured.outputs]
    running = next(i for i, html in enumerate(shown) if "list_pods(namespace=" in html)
    assert "running" in shown[running] and "<table" not in shown[running]
    done = next(i for i, html in enumerate(shown) if "completed" in html and "<table" in html)
    assert running < done
    assert 'class="kchat-answer"' not in shown[running], "the answer comes after the tools"


def test_to_dataframe_puts_problems_first_with_their_reason(
    shell: InteractiveShell, chat: KernelChat, services: OfflineServices
) -> None:
    answer = shell.run_line_magic("kchat", "--new list all pods")
    frame = answer.to_dataframe()
    reasons = list(frame["reason"])
    problems = [reason for reason in reasons if reason]
    assert problems and reasons[: len(problems)] == problems, "problems first, as the tool gave"
    assert list(frame["name"]) == [row["name"] for row in answer.tool_calls[0].rows or []]
    assert services.cluster is not None
    unhealthy = {name for _, name in services.cluster.unhealthy_pod_keys()}
    assert unhealthy <= set(frame[frame["reason"] != ""]["name"])


def test_a_change_waiting_for_approval_shows_in_its_block(
    shell: InteractiveShell, configure: Any, services: OfflineServices,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(read_only=False)
    assert services.cluster is not None
    name = next(n for ns, n in services.cluster.objects["pods"] if ns == "payments")
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    args = orjson.dumps({"name": name, "namespace": "payments"}).decode()
    result = run(shell, f"r = %kchat --new call tool delete_pod with {args}")
    shown = [output.data["text/html"] for output in result.captured.outputs]
    waiting = next(html for html in shown if "awaiting approval" in html)
    assert "Change: " in waiting and name in waiting and " open>" in waiting
    assert "denied" in shown[-1]
    assert services.cluster.get("pods", "payments", name) is not None
