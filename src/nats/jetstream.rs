//! JetStream: a stream on the NATS server that keeps every publisher's messages for a while
//! (`--jetstream STREAM`, `--jetstream-max-age`), so that a hub that starts or restarts
//! replays them and its dashboard is whole again.
//!
//! Both sides make sure the stream exists (whichever starts first creates it), so the order in
//! which publishers and hubs start does not matter. The stream takes `webpeek.hits.>`, keeps
//! messages on disk for the max age (the oldest go first), and drops a message sent twice
//! within [`DUPLICATE_WINDOW`] by its id (`<run>-<seq>`), so a publisher that resends after a
//! lost acknowledgement stores it once. An existing stream is used as it is: its retention is
//! the one it was made with (a warning says so when `--jetstream-max-age` differs).

use std::time::Duration;

use async_nats::jetstream::stream::{Config, DiscardPolicy, StorageType, Stream};
use async_nats::jetstream::{self, context::CreateStreamErrorKind};

use super::SUBSCRIBE_SUBJECT;

/// How long a stream created without `--jetstream-max-age` keeps hits: a day, as the issue of
/// a launch or a deploy is usually looked at within one.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long the server remembers a message id to drop a resent message.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// `--jetstream` and `--jetstream-max-age`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOptions {
    /// The stream's name.
    pub name: String,
    /// How long a stream created here keeps messages, when given (else [`DEFAULT_MAX_AGE`]).
    pub max_age: Option<Duration>,
}

/// Why the stream cannot be used (for now: both sides retry, the user may fix it meanwhile).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The server answers nothing on the JetStream API.
    #[error("JetStream is not enabled on the NATS server (start nats-server with -js)")]
    NotEnabled,
    /// A stream of that name exists for other subjects.
    #[error(
        "the JetStream stream {stream} exists but does not take {SUBSCRIBE_SUBJECT} (its subjects: {subjects})"
    )]
    WrongSubjects {
        /// The stream.
        stream: String,
        /// What it takes.
        subjects: String,
    },
    /// Anything else the server said.
    #[error("JetStream stream {stream}: {problem}")]
    Other {
        /// The stream.
        stream: String,
        /// What went wrong.
        problem: String,
    },
}

/// Whether NATS takes `name` as a stream name (webpeek keeps to a plain subset).
pub fn valid_stream_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

/// The stream's configuration when webpeek creates it.
fn config(options: &StreamOptions) -> Config {
    Config {
        name: options.name.clone(),
        description: Some("webpeek hits (webpeek publish --jetstream)".into()),
        subjects: vec![SUBSCRIBE_SUBJECT.into()],
        max_age: options.max_age.unwrap_or(DEFAULT_MAX_AGE),
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        duplicate_window: DUPLICATE_WINDOW,
        ..Config::default()
    }
}

/// Whether a stream taking `subjects` stores what publishers send to `webpeek.hits.<name>`.
fn takes_hits(subjects: &[String]) -> bool {
    subjects
        .iter()
        .any(|s| [">", "webpeek.>", SUBSCRIBE_SUBJECT].contains(&s.as_str()))
}

/// The stream, created when missing. Warns (once per process) when an existing stream keeps
/// hits for another age than asked.
pub async fn ensure_stream(
    js: &jetstream::Context,
    options: &StreamOptions,
) -> Result<Stream, StreamError> {
    let stream = js
        .get_or_create_stream(config(options))
        .await
        .map_err(|e| match e.kind() {
            CreateStreamErrorKind::JetStreamUnavailable => StreamError::NotEnabled,
            _ => StreamError::Other {
                stream: options.name.clone(),
                problem: e.to_string(),
            },
        })?;
    let have = &stream.cached_info().config;
    if !takes_hits(&have.subjects) {
        return Err(StreamError::WrongSubjects {
            stream: options.name.clone(),
            subjects: have.subjects.join(", "),
        });
    }
    // Said once per stream and ages: a hub makes its consumer again after every reconnect.
    static SAID: std::sync::Mutex<Vec<(String, Duration, Duration)>> =
        std::sync::Mutex::new(Vec::new());
    if let Some(asked) = options.max_age
        && have.max_age != asked
        && {
            let said = (options.name.clone(), have.max_age, asked);
            let mut all = SAID.lock().unwrap_or_else(|e| e.into_inner());
            !all.contains(&said) && {
                all.push(said);
                true
            }
        }
    {
        tracing::warn!(
            "JetStream stream {} keeps messages for {} s, not the {} s of --jetstream-max-age: it existed already and is left as it is",
            options.name,
            have.max_age.as_secs(),
            asked.as_secs()
        );
    }
    Ok(stream)
}

/// A message's id in the stream: the publisher's run and the message's number.
pub fn message_id(run: &str, seq: u64) -> String {
    format!("{run}-{seq}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_and_subjects() {
        assert!(valid_stream_name("WEBPEEK"));
        assert!(valid_stream_name("hits_2026-12"));
        for bad in ["", "a.b", "a b", "a*", "a>", "a/b", &"x".repeat(65)] {
            assert!(!valid_stream_name(bad), "{bad}");
        }
        assert!(takes_hits(&["webpeek.hits.>".into()]));
        assert!(takes_hits(&["other".into(), ">".into()]));
        assert!(!takes_hits(&["webpeek.hits.web1".into()]));
        let c = config(&StreamOptions {
            name: "S".into(),
            max_age: None,
        });
        assert_eq!(c.subjects, [SUBSCRIBE_SUBJECT]);
        assert_eq!(c.max_age, Duration::from_secs(86_400));
    }
}
