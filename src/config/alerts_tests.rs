//! `alerts:` seen through loading: a full section as written, and every
//! problem of a bad one at once, each on its key.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::test_support::{errors, SOURCE};
use super::*;
use crate::secret::PasswordRef;

const FULL: &str = r#"
alerts:
  evaluate_every: 30s
  channels:
    - { name: ops-hook, webhook: "http://127.0.0.1:9/hook", secret_env: ALERT_HMAC }
    - name: dba-mail
      smtp: { host: 127.0.0.1, port: 2525, from: dbfleet@x.test, to: [dba@x.test],
              username: u, password_file: /run/secrets/smtp, tls: none }
  rules:
    - { name: batch-failed, when: batch_failed, statuses: [failed], channels: [ops-hook] }
    - { name: stale, when: not_collected, days: 2, selector: "tier=1", channels: [dba-mail] }
    - { name: growth, when: growth, over: 7d, percent: 20, mib: 10240, channels: [ops-hook] }
    - { name: full-soon, when: days_until_full, below: 14, channels: [ops-hook, dba-mail] }
  silences:
    - { rule: growth, subject: "pay-prod/ledger", until: "2026-12-31T00:00:00Z" }
"#;

#[test]
fn a_full_section_gives_every_value_as_written() {
    let a = load_from_str(SOURCE, FULL, vec![]).unwrap().alerts;
    assert_eq!(a.evaluate_every, Duration::from_secs(30));
    let hook = a.channel("ops-hook").unwrap();
    let ChannelKind::Webhook(hook) = &hook.kind else {
        unreachable!("{hook:?}")
    };
    assert_eq!(hook.secret, PasswordRef::Env("ALERT_HMAC".into()));
    let ChannelKind::Smtp(mail) = &a.channel("dba-mail").unwrap().kind else {
        unreachable!()
    };
    assert_eq!((mail.port, mail.tls), (2525, SmtpTls::None));
    assert_eq!(mail.to, ["dba@x.test"]);
    assert_eq!(
        mail.password,
        Some(PasswordRef::File("/run/secrets/smtp".into()))
    );
    let whens: Vec<&Condition> = a.rules.iter().map(|r| &r.when).collect();
    assert_eq!(
        whens,
        [
            &Condition::BatchFailed {
                statuses: vec![BatchEnd::Failed]
            },
            &Condition::NotCollected { days: 2 },
            &Condition::Growth {
                over_days: 7,
                percent: Some(20),
                mib: Some(10240)
            },
            &Condition::DaysUntilFull { below: 14 },
        ]
    );
    assert!(a.rules[1].selector.is_some());
    let until = "2026-12-31T00:00:00Z".parse().unwrap();
    assert!(a.is_silenced(
        "growth",
        "pay-prod/ledger",
        until - chrono::Duration::seconds(1)
    ));
    assert!(!a.is_silenced("growth", "pay-prod/ledger", until));
}

#[test]
fn no_section_means_no_rules() {
    let a = load_from_str(SOURCE, "", vec![]).unwrap().alerts;
    assert!(a.rules.is_empty() && a.channels.is_empty());
    assert_eq!(a.evaluate_every, Duration::from_secs(60));
}

#[test]
fn every_problem_is_reported_on_its_key() {
    let yaml = r#"
alerts:
  channels:
    - { name: bad, webhook: "ftp://x/y", secret_env: "1bad" }
    - { name: hook, webhook: "http://x/y", secret_file: /k }
    - { name: hook, webhook: "http://x/z", secret_env: K }
    - { name: nokey, webhook: "http://x/y" }
    - { name: mail, smtp: { host: h, from: nobody, to: [], password_env: P } }
    - { name: both, webhook: "http://x/", secret_env: K, smtp: {} }
  rules:
    - { name: r1, when: batch_failed, statuses: [ok], channels: [nowhere] }
    - { name: r1, when: days_until_full, channels: [hook] }
    - { name: r2, when: growth, channels: [hook] }
    - { name: r3, when: sometimes, channels: [hook] }
    - { name: r4, when: not_collected, below: 3, channels: [] }
  silences:
    - { rule: ghost, subject: x, until: tomorrow }
"#;
    let found: Vec<String> = errors(yaml, vec![])
        .iter()
        .map(|e| format!("{}: {}", e.key, e.problem))
        .collect();
    for expected in [
        "alerts.channels[0].webhook: expected an `http://",
        "alerts.channels[0].secret_env: invalid password reference",
        "alerts.channels[3].secret_env: required",
        "alerts.channels[2].name: `hook` is already",
        "alerts.channels[4].smtp.from: expected an address",
        "alerts.channels[4].smtp.to: required",
        "alerts.channels[4].smtp.username: required with a password",
        "alerts.channels[5].smtp: give `webhook` or `smtp`, not both",
        "alerts.rules[0].statuses[0]: expected `failed` or `partial_success`",
        "alerts.rules[0].channels[0]: no channel is named `nowhere`",
        "alerts.rules[2].percent: give `percent`, `mib` or both",
        "alerts.rules[1].name: `r1` is already",
        "alerts.rules[3].when: expected `batch_failed`",
        "alerts.rules[4].below: unknown key",
        "alerts.rules[4].channels: required",
        "alerts.silences[0].rule: no rule is named `ghost`",
        "alerts.silences[0].until: expected a time",
    ] {
        assert!(
            found.iter().any(|p| p.starts_with(expected)),
            "{expected} in {found:#?}"
        );
    }
}

#[test]
fn an_https_webhook_takes_a_readable_ca_file() {
    let dir = std::env::temp_dir().join(format!("dbfleet-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, not_pem) = (dir.join("ca.pem"), dir.join("notes.txt"));
    // A syntactically valid PEM block: the file is checked for
    // certificates, not verified as a CA here.
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(&not_pem, "no certificate here\n").unwrap();
    let channel = |name: &str, url: &str, ca_file: &std::path::Path| {
        format!(
            "    - {{ name: {name}, webhook: \"{url}\", secret_env: K, ca_file: {} }}\n",
            ca_file.display()
        )
    };
    let good = format!(
        "alerts:\n  channels:\n{}",
        channel("a", "https://h:8443/in", &ca)
    );
    let a = load_from_str(SOURCE, &good, vec![]).unwrap().alerts;
    let ChannelKind::Webhook(hook) = &a.channels[0].kind else {
        unreachable!()
    };
    assert_eq!(hook.ca_file.as_deref(), Some(ca.as_path()));

    let missing = dir.join("missing.pem");
    let yaml = format!(
        "alerts:\n  channels:\n{}{}{}",
        channel("a", "https://h/in", &missing),
        channel("b", "https://h/other", &not_pem),
        channel("c", "http://h/in", &ca),
    );
    let found: Vec<String> = errors(&yaml, vec![])
        .iter()
        .map(|e| format!("{}: {}", e.key, e.problem))
        .collect();
    let missing_problem = format!("alerts.channels[0].ca_file: `{}`: ", missing.display());
    for expected in [
        missing_problem.as_str(),
        "alerts.channels[1].ca_file: ",
        "alerts.channels[2].ca_file: only an `https://` webhook",
    ] {
        assert!(
            found.iter().any(|p| p.starts_with(expected)),
            "{expected} in {found:#?}"
        );
    }
    assert!(
        found.iter().any(|p| p.contains("no PEM certificate")),
        "{found:#?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
