//! The MQTT topic layout under `picket/<site>/`, and how each topic is
//! published.
//!
//! | topic | payload | QoS | retained |
//! |---|---|---|---|
//! | `picket/<site>/tracks/<track-id>` | [`TrackMessage`](crate::TrackMessage); empty when the track ends | 1 | yes |
//! | `picket/<site>/alerts` | [`AlertMessage`](crate::AlertMessage) | 1 | no |
//! | `picket/<site>/status` | [`StatusMessage`](crate::StatusMessage): birth `online` on every connect, last will `offline` | 1 | yes |
//! | `picket/<site>/sensors/<sensor-id>/health` | [`SensorHealthMessage`](crate::SensorHealthMessage) | 1 | yes |

use std::fmt;

use crate::id::{IdError, SensorId, SiteId};

/// First level of every topic picket publishes.
pub const ROOT: &str = "picket";

/// Subscribes to the tracks of every site, for a regional fuser.
pub const ALL_SITES_TRACKS_FILTER: &str = "picket/+/tracks/#";

/// The payload that clears a retained track topic when the track ends.
///
/// An empty retained message makes the broker drop the retained state, so a
/// late subscriber to `tracks/#` sees only live tracks. Publish the final
/// [`TrackStatus::Deleted`](crate::TrackStatus::Deleted) message first, so
/// subscribers already listening learn why the track went away.
pub const fn track_clear_payload() -> &'static [u8] {
    &[]
}

/// Builds the topics of one site. Cheap to clone; build once per daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `picket/<site>`, kept so each topic is one allocation.
    prefix: String,
}

impl Topics {
    /// Topics for `site`; the id was checked when the [`SiteId`] was made.
    pub fn new(site: &SiteId) -> Self {
        Topics {
            prefix: format!("{ROOT}/{site}"),
        }
    }

    /// Topics for a site id given as text, checked against the id rules.
    pub fn for_site(site: &str) -> Result<Self, IdError> {
        Ok(Self::new(&SiteId::new(site)?))
    }

    /// `picket/<site>/tracks/<track_id>`: QoS 1, retained.
    pub fn tracks(&self, track_id: u64) -> String {
        format!("{}/tracks/{track_id}", self.prefix)
    }

    /// `picket/<site>/tracks/#`: every track of the site, what operators
    /// subscribe to for the live picture.
    pub fn tracks_filter(&self) -> String {
        format!("{}/tracks/#", self.prefix)
    }

    /// `picket/<site>/alerts`: QoS 1, not retained (an alert is an event,
    /// and a stale one replayed to a new subscriber would be re-acted on).
    pub fn alerts(&self) -> String {
        format!("{}/alerts", self.prefix)
    }

    /// `picket/<site>/status`: QoS 1, retained; also the last-will topic.
    pub fn status(&self) -> String {
        format!("{}/status", self.prefix)
    }

    /// `picket/<site>/sensors/<sensor_id>/health`: QoS 1, retained.
    pub fn sensor_health(&self, sensor: &SensorId) -> String {
        format!("{}/sensors/{sensor}/health", self.prefix)
    }

    /// `picket/<site>/sensors/+/health`: the health of every sensor.
    pub fn sensor_health_filter(&self) -> String {
        format!("{}/sensors/+/health", self.prefix)
    }
}

/// Which of a site's topics a topic string names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicKind {
    /// `tracks/<track_id>`.
    Track {
        /// The track id from the topic.
        track_id: u64,
    },
    /// `alerts`.
    Alerts,
    /// `status`.
    Status,
    /// `sensors/<sensor>/health`.
    SensorHealth {
        /// The sensor id from the topic.
        sensor: SensorId,
    },
}

impl TopicKind {
    /// MQTT QoS for the topic: 1 for all, since every message must arrive and
    /// [`seq`](crate::TrackMessage::seq) lets subscribers drop the duplicates
    /// that QoS 1 may deliver.
    pub const fn qos(&self) -> u8 {
        1
    }

    /// Whether messages on the topic are published retained: state (tracks,
    /// status, sensor health) is, events (alerts) are not.
    pub const fn retained(&self) -> bool {
        !matches!(self, TopicKind::Alerts)
    }
}

/// A parsed picket topic: whose it is and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The site that published it.
    pub site: SiteId,
    /// What the topic carries.
    pub kind: TopicKind,
}

/// Why a topic string is not one of picket's topics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The topic does not start with `picket/`.
    #[error("topic does not start with \"{ROOT}/\"")]
    NotPicket,
    /// The site or sensor level is not a valid id.
    #[error("invalid id in topic: {0}")]
    Id(#[from] IdError),
    /// The track level is not a canonical decimal `u64`.
    #[error("track id {0:?} is not a canonical decimal u64")]
    TrackId(String),
    /// The levels after the site match no picket topic.
    #[error("no picket topic has the layout {0:?}")]
    UnknownLayout(String),
}

impl Topic {
    /// Parses a topic such as `picket/tower-07/tracks/42`.
    ///
    /// Exact: wildcards, trailing slashes and track ids with leading zeros
    /// or signs are rejected, so one track has exactly one topic.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        let rest = topic
            .strip_prefix(ROOT)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or(TopicError::NotPicket)?;
        let (site, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let site = SiteId::new(site)?;
        let levels: Vec<&str> = rest.split('/').collect();
        let kind = match levels.as_slice() {
            ["tracks", id] => TopicKind::Track {
                track_id: parse_track_id(id)?,
            },
            ["alerts"] => TopicKind::Alerts,
            ["status"] => TopicKind::Status,
            ["sensors", sensor, "health"] => TopicKind::SensorHealth {
                sensor: SensorId::new(*sensor)?,
            },
            _ => return Err(TopicError::UnknownLayout(rest.to_owned())),
        };
        Ok(Topic { site, kind })
    }
}

fn parse_track_id(text: &str) -> Result<u64, TopicError> {
    let canonical =
        text == "0" || (!text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit()));
    match text.parse() {
        Ok(id) if canonical => Ok(id),
        _ => Err(TopicError::TrackId(text.to_owned())),
    }
}

impl fmt::Display for Topic {
    /// The topic string, the inverse of [`Topic::parse`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topics = Topics::new(&self.site);
        let topic = match &self.kind {
            TopicKind::Track { track_id } => topics.tracks(*track_id),
            TopicKind::Alerts => topics.alerts(),
            TopicKind::Status => topics.status(),
            TopicKind::SensorHealth { sensor } => topics.sensor_health(sensor),
        };
        f.write_str(&topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Topics {
        Topics::for_site("tower-07").unwrap()
    }

    #[test]
    fn builds_the_documented_layout() {
        let topics = site();
        let sensor = SensorId::new("gn-north-07").unwrap();
        assert_eq!(topics.tracks(42), "picket/tower-07/tracks/42");
        assert_eq!(topics.tracks_filter(), "picket/tower-07/tracks/#");
        assert_eq!(topics.alerts(), "picket/tower-07/alerts");
        assert_eq!(topics.status(), "picket/tower-07/status");
        assert_eq!(
            topics.sensor_health(&sensor),
            "picket/tower-07/sensors/gn-north-07/health"
        );
        assert_eq!(
            topics.sensor_health_filter(),
            "picket/tower-07/sensors/+/health"
        );
        assert!(track_clear_payload().is_empty());
    }

    #[test]
    fn rejects_bad_site_ids() {
        for bad in ["", "+", "#", "a/b", "nul\0", &"s".repeat(65)] {
            assert!(Topics::for_site(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_what_it_builds() {
        let topics = site();
        let sensor = SensorId::new("rad-portal-1").unwrap();
        let cases = [
            (topics.tracks(0), TopicKind::Track { track_id: 0 }),
            (
                topics.tracks(u64::MAX),
                TopicKind::Track { track_id: u64::MAX },
            ),
            (topics.alerts(), TopicKind::Alerts),
            (topics.status(), TopicKind::Status),
            (
                topics.sensor_health(&sensor),
                TopicKind::SensorHealth { sensor },
            ),
        ];
        for (text, kind) in cases {
            let topic = Topic::parse(&text).unwrap();
            assert_eq!(topic.site.as_str(), "tower-07");
            assert_eq!(topic.kind, kind);
            assert_eq!(topic.to_string(), text);
        }
    }

    #[test]
    fn rejects_foreign_and_malformed_topics() {
        for text in [
            "",
            "picket",
            "picket/",
            "sensors/gn-1/reports",
            "picketx/tower-07/status",
            "picket/tower-07",
            "picket/tower-07/",
            "picket/tower-07/status/",
            "picket/tower-07/tracks",
            "picket/tower-07/tracks/",
            "picket/tower-07/tracks/#",
            "picket/tower-07/tracks/042",
            "picket/tower-07/tracks/+1",
            "picket/tower-07/tracks/-1",
            "picket/tower-07/tracks/18446744073709551616",
            "picket/tower-07/tracks/1/extra",
            "picket/+/tracks/1",
            "picket/tower-07/sensors/+/health",
            "picket/tower-07/sensors/gn-1",
            "picket/tower-07/unknown",
        ] {
            assert!(Topic::parse(text).is_err(), "accepted {text:?}");
        }
    }

    #[test]
    fn delivery_rules_per_topic() {
        assert!(TopicKind::Track { track_id: 1 }.retained());
        assert!(TopicKind::Status.retained());
        assert!(!TopicKind::Alerts.retained());
        let health = TopicKind::SensorHealth {
            sensor: SensorId::new("s").unwrap(),
        };
        assert!(health.retained());
        assert_eq!(health.qos(), 1);
    }
}
