//! Validated site and sensor ids, the only strings that become topic levels.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest site or sensor id, in bytes.
///
/// Twice picket-wire's 32-byte sensor id, so every wire sensor fits, with
/// room for MQTT-only sensors that carry a site or vendor prefix.
pub const MAX_ID_LEN: usize = 64;

/// Why a string cannot be a site or sensor id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty, which would make an empty topic level.
    #[error("id is empty")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`] bytes.
    #[error("id is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// [`MAX_ID_LEN`].
        max: usize,
    },
    /// The id contains a character outside `A-Z a-z 0-9 - _ .`.
    #[error("id contains {found:?} at byte {at}; only A-Z a-z 0-9 - _ . are allowed")]
    ForbiddenChar {
        /// The offending character (e.g. `+`, `#`, `/`, NUL, a space).
        found: char,
        /// Its byte offset.
        at: usize,
    },
}

/// Checks an id against the shared rules.
///
/// The alphabet is deliberately narrower than "anything but `+ # /` NUL":
/// ids become MQTT topic levels, CoT uids (dot-separated) and shell arguments
/// to `mosquitto_sub`, and with ASCII only the JSON Schema `maxLength`
/// (characters) agrees with [`MAX_ID_LEN`] (bytes).
fn check_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            len: id.len(),
            max: MAX_ID_LEN,
        });
    }
    let allowed = |ch: char| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.');
    match id.char_indices().find(|&(_, ch)| !allowed(ch)) {
        Some((at, found)) => Err(IdError::ForbiddenChar { found, at }),
        None => Ok(()),
    }
}

/// Declares an id newtype that can only hold a checked id, including when
/// deserialized, so a message that parsed has topic-safe ids.
macro_rules! checked_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl Clone for $name {
            fn clone(&self) -> Self {
                Self(self.0.clone())
            }

            /// Reuses this id's buffer (the derived one allocates anew):
            /// the engine refills recycled track messages in place.
            fn clone_from(&mut self, source: &Self) {
                self.0.clone_from(&source.0);
            }
        }

        impl $name {
            /// Checks `id` against the id rules (see [`IdError`]).
            pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                check_id(&id)?;
                Ok(Self(id))
            }

            /// The id text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;

            fn try_from(id: &str) -> Result<Self, IdError> {
                Self::new(id)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let id = String::deserialize(deserializer)?;
                Self::new(id).map_err(serde::de::Error::custom)
            }
        }
    };
}

checked_id!(
    /// A site id, e.g. `"tower-07"`: the `<site>` level of every topic.
    SiteId
);

checked_id!(
    /// A sensor id, e.g. `"gn-north-07"`, as configured for the site.
    SensorId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids() {
        for id in ["tower-07", "a", "gn_north.07", &"x".repeat(MAX_ID_LEN)] {
            assert_eq!(SiteId::new(id).unwrap().as_str(), id);
            assert_eq!(SensorId::new(id).unwrap().to_string(), id);
        }
    }

    #[test]
    fn rejects_topic_breaking_ids() {
        assert_eq!(SiteId::new(""), Err(IdError::Empty));
        assert_eq!(
            SiteId::new("x".repeat(MAX_ID_LEN + 1)),
            Err(IdError::TooLong {
                len: MAX_ID_LEN + 1,
                max: MAX_ID_LEN
            })
        );
        for (id, found, at) in [
            ("a+b", '+', 1),
            ("#", '#', 0),
            ("tower/7", '/', 5),
            ("nul\0", '\0', 3),
            ("two words", ' ', 3),
            ("é", 'é', 0),
        ] {
            assert_eq!(SensorId::new(id), Err(IdError::ForbiddenChar { found, at }));
        }
    }

    #[test]
    fn deserializing_checks_the_id() {
        assert!(serde_json::from_str::<SiteId>("\"tower-07\"").is_ok());
        assert!(serde_json::from_str::<SiteId>("\"tower/07\"").is_err());
        assert!(serde_json::from_str::<SensorId>("\"\"").is_err());
    }
}
