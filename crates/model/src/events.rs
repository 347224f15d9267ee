use bytes::Bytes;

use crate::KeyValues;

/// The key that holds a log's body, as in LoongCollector (`content`).
pub const BODY_KEY: &str = "content";

/// A batch of events from one source that share metadata and tags: the unit every V2 plugin handles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineGroupEvents {
    pub group: GroupInfo,
    pub events: Vec<PipelineEvent>,
    /// Delivery acknowledgements of the input that produced the events (see [`crate::ack`]).
    pub acks: crate::AckSet,
}

/// What the events of a group have in common.
///
/// `metadata` describes the source (file path, inode, host…) and is not sent unless a flusher chooses
/// to; `tags` are sent with every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupInfo {
    pub metadata: KeyValues,
    pub tags: KeyValues,
}

impl PipelineGroupEvents {
    pub fn new(group: GroupInfo, events: Vec<PipelineEvent>) -> Self {
        Self {
            group,
            events,
            acks: crate::AckSet::new(),
        }
    }

    /// Bytes of payload held by the group's events and tags: what batch size limits count.
    pub fn byte_size(&self) -> usize {
        self.group.tags.byte_size() + self.events.iter().map(PipelineEvent::size).sum::<usize>()
    }
}

/// LoongCollector's event type numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventType {
    Metric = 1,
    Span = 2,
    Log = 3,
    ByteArray = 4,
}

impl EventType {
    /// The name used in JSON output (`eventType`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Metric => "metric",
            EventType::Span => "span",
            EventType::Log => "log",
            EventType::ByteArray => "byteArray",
        }
    }
}

/// One event. Every kind has a name, tags, a timestamp and an observed timestamp (nanoseconds since
/// the Unix epoch) and a size.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEvent {
    Log(LogEvent),
    Metric(MetricEvent),
    Span(SpanEvent),
    ByteArray(ByteArrayEvent),
}

impl PipelineEvent {
    pub fn event_type(&self) -> EventType {
        match self {
            PipelineEvent::Log(_) => EventType::Log,
            PipelineEvent::Metric(_) => EventType::Metric,
            PipelineEvent::Span(_) => EventType::Span,
            PipelineEvent::ByteArray(_) => EventType::ByteArray,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            PipelineEvent::Log(e) => &e.name,
            PipelineEvent::Metric(e) => &e.name,
            PipelineEvent::Span(e) => &e.name,
            PipelineEvent::ByteArray(_) => "",
        }
    }

    /// Tags of the event; a byte array has none.
    pub fn tags(&self) -> Option<&KeyValues> {
        match self {
            PipelineEvent::Log(e) => Some(&e.tags),
            PipelineEvent::Metric(e) => Some(&e.tags),
            PipelineEvent::Span(e) => Some(&e.tags),
            PipelineEvent::ByteArray(_) => None,
        }
    }

    pub fn timestamp(&self) -> u64 {
        match self {
            PipelineEvent::Log(e) => e.timestamp,
            PipelineEvent::Metric(e) => e.timestamp,
            PipelineEvent::Span(e) => e.timestamp,
            PipelineEvent::ByteArray(e) => e.timestamp,
        }
    }

    pub fn observed_timestamp(&self) -> u64 {
        match self {
            PipelineEvent::Log(e) => e.observed_timestamp,
            PipelineEvent::Metric(e) => e.observed_timestamp,
            PipelineEvent::Span(e) => e.observed_timestamp,
            PipelineEvent::ByteArray(e) => e.observed_timestamp,
        }
    }

    /// Approximate payload bytes, used for batching limits and the `in_size_bytes` metric.
    pub fn size(&self) -> usize {
        match self {
            PipelineEvent::Log(e) => e.size(),
            PipelineEvent::Metric(e) => e.size(),
            PipelineEvent::Span(e) => e.size(),
            PipelineEvent::ByteArray(e) => e.data.len(),
        }
    }

    pub fn as_log(&self) -> Option<&LogEvent> {
        match self {
            PipelineEvent::Log(e) => Some(e),
            _ => None,
        }
    }

    pub fn as_log_mut(&mut self) -> Option<&mut LogEvent> {
        match self {
            PipelineEvent::Log(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LogEvent> for PipelineEvent {
    fn from(e: LogEvent) -> Self {
        PipelineEvent::Log(e)
    }
}
impl From<MetricEvent> for PipelineEvent {
    fn from(e: MetricEvent) -> Self {
        PipelineEvent::Metric(e)
    }
}
impl From<SpanEvent> for PipelineEvent {
    fn from(e: SpanEvent) -> Self {
        PipelineEvent::Span(e)
    }
}
impl From<ByteArrayEvent> for PipelineEvent {
    fn from(e: ByteArrayEvent) -> Self {
        PipelineEvent::ByteArray(e)
    }
}

/// A log record. The body is the `content` key of `contents`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEvent {
    pub name: String,
    pub level: String,
    pub trace_id: String,
    pub span_id: String,
    pub tags: KeyValues,
    pub timestamp: u64,
    pub observed_timestamp: u64,
    /// Byte offset of the record in its source file.
    pub offset: u64,
    /// Bytes the record occupied in its source, before any parsing.
    pub raw_size: u64,
    pub contents: KeyValues,
}

impl LogEvent {
    /// A log whose body is `body`, stamped with `timestamp` (ns).
    pub fn with_body(body: impl Into<Bytes>, timestamp: u64) -> Self {
        let body = body.into();
        let mut contents = KeyValues::with_capacity(1);
        let raw_size = body.len() as u64;
        contents.push(BODY_KEY, body);
        LogEvent {
            contents,
            timestamp,
            raw_size,
            ..Default::default()
        }
    }

    /// The body: the `content` key, or the first content when there is none (V1 logs converted
    /// from other formats).
    pub fn body(&self) -> Option<&Bytes> {
        self.contents
            .get(BODY_KEY)
            .or_else(|| self.contents.iter().next().map(|(_, v)| v))
    }

    pub fn size(&self) -> usize {
        self.contents.byte_size() + self.tags.byte_size()
    }
}

/// LoongCollector's metric types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MetricType {
    #[default]
    Untyped = 1,
    Counter = 2,
    Gauge = 3,
    Histogram = 4,
    Summary = 5,
    Meter = 6,
    RateCounter = 7,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Untyped => "untyped",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Meter => "meter",
            MetricType::RateCounter => "rate_counter",
        }
    }
}

/// A metric's value: one number, or named numbers (histogram buckets, summary quantiles…).
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Single(f64),
    Multi(Vec<(String, f64)>),
}

impl Default for MetricValue {
    fn default() -> Self {
        MetricValue::Single(0.0)
    }
}

/// A non-numeric value attached to a metric.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricEvent {
    pub name: String,
    pub unit: String,
    pub description: String,
    pub tags: KeyValues,
    pub timestamp: u64,
    pub observed_timestamp: u64,
    pub metric_type: MetricType,
    pub value: MetricValue,
    pub typed_values: Vec<(String, TypedValue)>,
}

impl MetricEvent {
    pub fn single(name: impl Into<String>, metric_type: MetricType, value: f64, timestamp: u64) -> Self {
        MetricEvent {
            name: name.into(),
            metric_type,
            value: MetricValue::Single(value),
            timestamp,
            ..Default::default()
        }
    }

    pub fn size(&self) -> usize {
        let values = match &self.value {
            MetricValue::Single(_) => 8,
            MetricValue::Multi(v) => v.iter().map(|(k, _)| k.len() + 8).sum(),
        };
        self.name.len() + self.tags.byte_size() + values
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SpanKind {
    #[default]
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl StatusCode {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "Unset",
            StatusCode::Ok => "Ok",
            StatusCode::Error => "Error",
        }
    }
}

/// A link from a span to another span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanLink {
    pub trace_id: String,
    pub span_id: String,
    pub trace_state: String,
    pub tags: KeyValues,
}

/// A timestamped annotation inside a span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanInnerEvent {
    pub timestamp: u64,
    pub name: String,
    pub tags: KeyValues,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanEvent {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    pub trace_state: String,
    pub start_time: u64,
    pub end_time: u64,
    pub kind: SpanKind,
    pub status: StatusCode,
    pub tags: KeyValues,
    pub links: Vec<SpanLink>,
    pub events: Vec<SpanInnerEvent>,
    pub timestamp: u64,
    pub observed_timestamp: u64,
}

impl SpanEvent {
    pub fn size(&self) -> usize {
        self.trace_id.len()
            + self.span_id.len()
            + self.parent_span_id.len()
            + self.name.len()
            + self.trace_state.len()
            + 16
            + self.tags.byte_size()
            + self
                .links
                .iter()
                .map(|l| l.trace_id.len() + l.span_id.len() + l.tags.byte_size())
                .sum::<usize>()
            + self
                .events
                .iter()
                .map(|e| e.name.len() + 8 + e.tags.byte_size())
                .sum::<usize>()
    }
}

/// Raw bytes that no input has interpreted yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByteArrayEvent {
    pub data: Bytes,
    pub timestamp: u64,
    pub observed_timestamp: u64,
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
