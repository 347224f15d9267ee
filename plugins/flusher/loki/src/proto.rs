//! Loki's push protobuf (`pkg/push/push.proto`, package `logproto`), declared with prost:
//!
//! ```proto
//! message PushRequest { repeated StreamAdapter streams = 1; }
//! message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//! message EntryAdapter { google.protobuf.Timestamp timestamp = 1; string line = 2;
//!                        repeated LabelPairAdapter structuredMetadata = 3; }
//! message LabelPairAdapter { string name = 1; string value = 2; }
//! ```
//!
//! The body of a push is the encoded `PushRequest`, snappy-compressed (block format).
//! [`PushRequest`] is the message as Loki decodes it (strings checked as UTF-8). The flusher encodes
//! [`wire::PushRequest`], the same message with the line as bytes, so a line is not copied into a
//! `String`: a `string` and a `bytes` field have the same encoding, and lines are valid UTF-8 (the
//! converter writes JSON).

pub use prost_types::Timestamp;

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// The label set in Prometheus syntax: `{job="loong", level="warn"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Set by Loki's distributor; clients leave it 0.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// The messages as the flusher encodes them (wire-identical to the ones above).
pub mod wire {
    use bytes::Bytes;

    use super::Timestamp;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PushRequest {
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<StreamAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamAdapter {
        #[prost(string, tag = "1")]
        pub labels: String,
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<EntryAdapter>,
        #[prost(uint64, tag = "3")]
        pub hash: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EntryAdapter {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        #[prost(bytes = "bytes", tag = "2")]
        pub line: Bytes,
    }
}

/// `ns` nanoseconds since the epoch as a protobuf timestamp.
pub fn timestamp(ns: i64) -> Timestamp {
    Timestamp {
        seconds: ns.div_euclid(1_000_000_000),
        nanos: ns.rem_euclid(1_000_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn the_wire_form_decodes_as_loki_s_messages() {
        let sent = wire::PushRequest {
            streams: vec![wire::StreamAdapter {
                labels: "{job=\"loong\"}".into(),
                entries: vec![wire::EntryAdapter {
                    timestamp: Some(timestamp(1_700_000_000_123_456_789)),
                    line: bytes::Bytes::from_static("héllo".as_bytes()),
                }],
                hash: 0,
            }],
        };
        let got = PushRequest::decode(&sent.encode_to_vec()[..]).unwrap();
        assert_eq!(got.streams[0].labels, "{job=\"loong\"}");
        let e = &got.streams[0].entries[0];
        assert_eq!(e.line, "héllo");
        assert_eq!(
            e.timestamp,
            Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_789
            })
        );
        assert_eq!(
            timestamp(-1),
            Timestamp {
                seconds: -1,
                nanos: 999_999_999
            }
        );
    }
}
