"""AppTest: the Data page (upload, report, mapping, use the dataset)."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent

TAOBAO = (b"user_id,item_id,category_id,behavior_type,timestamp\n"
          b"1,10,100,pv,1511544070\n1,10,100,cart,1511544100\n1,10,100,buy,1511544200\n"
          b"2,11,100,pv,1511544070\n2,11,100,pv,1511544070\n"  # duplicate row
          b",12,100,pv,1511544070\n")  # no user


def fresh() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def test_without_upload_the_page_explains_itself():
    at = fresh()
    assert any("No file chosen" in i.value for i in at.info)


def test_upload_reports_drops_and_switches_the_dataset():
    at = fresh()
    at.file_uploader(key="data.upload").upload("taobao.csv", TAOBAO, "text/csv").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    # 6 rows read: 1 duplicate and 1 without user dropped -> 4 kept
    assert metrics["Rows read"] == "6" and metrics["Rows kept"] == "4"
    assert metrics["Rows dropped"] == "2"
    assert "Taobao" in metrics["Format"] or "taobao" in metrics["Format"].lower()
    at.button(key="data.use").click().run()
    assert not at.exception, at.exception
    chosen = at.sidebar.selectbox(key="data:dataset").value
    assert chosen != "sample" and len(chosen) == 32  # 128-bit content hash
    assert at.query_params.get("dataset") in (chosen, [chosen])
    # the upload was read from disk (spooled), but the dataset keeps the uploaded file's name
    from core.store import DatasetStore

    assert DatasetStore().meta(chosen).name == "taobao.csv"


def test_a_failed_load_names_the_uploaded_file_and_leaves_no_progress_bar():
    # the loader reads the spooled copy ("<sha256>-<name>"); the person sees their file's name
    import re

    at = fresh()
    at.file_uploader(key="data.upload").upload("my export.csv", b"when,who\n1,bob\n").run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "'my export.csv'" in message and "unknown format" in message, message
    assert not re.search(r"[0-9a-f]{64}", message), message
    assert not [p for p in at.get("progress")], "the progress bar stayed over the error"


def test_the_page_states_the_upload_limits():
    at = fresh()
    captions = " ".join(c.value for c in at.caption)
    # .streamlit/config.toml sets server.maxUploadSize = 1024 (MB); 4 GiB expansion by default
    assert "Files up to 1,024 MB" in captions and "4,096 MB" in captions


def test_unreadable_upload_gives_a_message_not_a_traceback():
    at = fresh()
    at.file_uploader(key="data.upload").upload("x.csv", b"\x00\x01\x02\xff" * 200).run()
    assert not at.exception
    assert at.error, "a binary file must produce an error message"
    at.file_uploader(key="data.upload").upload("y.csv", b"foo,bar\n1,2\n").run()
    assert not at.exception
    assert at.error
