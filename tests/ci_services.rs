//! `.ci/services` deletes the queues killed test runs left on the shared
//! broker, and must spare those of a run going on at the same time (its
//! retry and dead-letter queues never have consumers). Only the selection
//! is run here (`--leftovers`, on a made-up listing): the script itself
//! must not run while other test runs use the broker.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

fn leftovers(listing: &str) -> Vec<String> {
    let mut child = Command::new("bash")
        .arg(common::repo_root().join(".ci/services"))
        .arg("--leftovers")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(listing.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn only_dated_test_queues_hours_old_and_unused_are_leftovers() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let running = common::broker_prefix(&common::tag());
    let killed = format!("dbft-{}-{}", now - 3 * 3600, common::tag());
    let recent = format!("dbft-{}-{}", now - 3600, common::tag());
    let listing = format!(
        "name\tconsumers\n\
         {running}.jobs\t1\n\
         {running}.retry.0\t0\n\
         {running}.dead\t0\n\
         {recent}.retry.2\t0\n\
         {killed}.jobs\t0\n\
         {killed}.retry.1\t0\n\
         {killed}.results\t1\n\
         dbft-0123456789ab.dead\t0\n\
         dbft-123456789012.retry.0\t0\n\
         dbfleet.jobs\t0\n"
    );
    assert_eq!(
        leftovers(&listing),
        [format!("{killed}.jobs"), format!("{killed}.retry.1")]
    );
}
