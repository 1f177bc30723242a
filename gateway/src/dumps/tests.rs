use std::io::Read as _;

use miroir_schemas::task_log::TaskEvent;
use miroir_schemas::tasks::fold_task;
use miroir_schemas::tasks::render_task;
use serde_json::json;
use time::macros::datetime;

use super::*;

fn dump_record() -> TaskRecord {
    let details = TaskDetails::DumpCreation { planned_dump_uid: "20261207-062250024".into(), dump_uid: None };
    run_by(TaskRecord::new(TaskType::DumpCreation, None, Some(details), datetime!(2026-12-07 06:22:50 UTC)), DUMP_WRITER)
}

fn writer_event(outcome: Result<(), ResponseError>) -> TaskEvent {
    let task = GatewayTask { task_uid: 7, runner: DUMP_WRITER };
    let mut event = gateway_task::outcome_event(&task, datetime!(2026-12-07 06:22:51 UTC), outcome);
    event.finished_at = datetime!(2026-12-07 06:22:52 UTC);
    event
}

fn view(events: &[TaskEvent]) -> Value {
    let record = dump_record();
    Value::Object(render_task(7, &record, &fold_task(7, &record, events), None))
}

#[test]
fn a_dump_task_waits_for_its_writer_and_shows_its_uid_once_finished() {
    let enqueued = view(&[]);
    assert_eq!(
        (&enqueued["status"], &enqueued["type"], &enqueued["details"]),
        (&json!("enqueued"), &json!("dumpCreation"), &json!({"dumpUid": null}))
    );
    let succeeded = view(&[writer_event(Ok(()))]);
    assert_eq!((&succeeded["status"], &succeeded["details"]), (&json!("succeeded"), &json!({"dumpUid": "20261207-062250024"})));
    assert_eq!(succeeded["startedAt"], "2026-12-07T06:22:51Z");
    let error = ResponseError::new(Code::DumpProcessFailed, "Dump process failed: disk full.");
    let failed = view(&[writer_event(Err(error))]);
    assert_eq!((&failed["status"], &failed["error"]["code"]), (&json!("failed"), &json!("dump_process_failed")));
}

#[test]
fn the_archive_holds_the_staged_files_and_replaces_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let staged = dir.path().join("staged");
    std::fs::create_dir_all(staged.join("indexes/movies")).unwrap();
    std::fs::write(staged.join("metadata.json"), "{}").unwrap();
    std::fs::write(staged.join("indexes/movies/documents.jsonl"), "{\"id\":1}\n").unwrap();
    let target = dir.path().join("d.dump");
    archive(&staged, &target).unwrap();
    let mut entries: Vec<(String, String)> = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&target).unwrap()))
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            (entry.path().unwrap().display().to_string(), content)
        })
        .filter(|(_, content)| !content.is_empty())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [("indexes/movies/documents.jsonl".to_owned(), "{\"id\":1}\n".to_owned()), ("metadata.json".to_owned(), "{}".to_owned())]
    );

    let missing = archive(&dir.path().join("nothing staged"), &dir.path().join("e.dump"));
    assert!(missing.is_err());
    assert!(!dir.path().join("e.dump").exists() && !dir.path().join("e.dump.partial").exists());
}
