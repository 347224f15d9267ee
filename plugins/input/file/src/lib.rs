//! `input_file`: collects the lines of text files (LoongCollector's `input_file`).
//!
//! One thread per input finds the files (change notifications from `notify`, plus a scan every
//! second so nothing is missed) and reads every open file in turn, in blocks of 512 KiB. Lines are
//! split with `memchr` and handed out as slices of the block ([`framer`]); multi-line records are
//! joined the same way ([`multiline`]). Files are known by device + inode + a signature of their first
//! bytes (`identity`), which is how renames, copytruncate, deletes and rewrites are told apart.
//!
//! Every group (one per block and file) carries an acknowledgement; a file's checkpoint moves only
//! over delivered data (`checkpoint`), so a restart continues exactly after the last delivered
//! line. On a config reload the open files pass to the new instance of the input.

mod checkpoint;
mod config;
mod discovery;
pub mod framer;
mod identity;
mod input;
pub mod multiline;
mod reader;
mod settings;
mod worker;

pub use config::{FileEncoding, FileOptions, MultilineMode, MultilineOptions, UnmatchedContentTreatment};
pub use input::FileInput;

/// The config `Type` of this input.
pub const NAME: &str = "input_file";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_input_creator(NAME, |options: FileOptions| Box::new(FileInput::new(options)));
}
