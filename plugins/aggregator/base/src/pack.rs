//! `__pack_id__`: LoongCollector tags each batch with `<context id>-<sequence>` in upper-case
//! hexadecimal, the context id random per source (or per aggregator), the sequence counting
//! that source's batches from 1. A reader sorts a source's batches back into order with it.

pub const TAG: &str = "__pack_id__";

pub struct PackIds {
    prefix: String,
    next: u64,
}

impl PackIds {
    pub fn new() -> Self {
        PackIds {
            prefix: format!("{:016X}", rand::random::<u64>()),
            next: 1,
        }
    }

    pub fn next_id(&mut self) -> String {
        let id = format!("{}-{:X}", self.prefix, self.next);
        self.next += 1;
        id
    }
}

impl Default for PackIds {
    fn default() -> Self {
        Self::new()
    }
}
