//! A file writer for snapshot sinks whose writes only append to memory: a shard is
//! serialized under its lock into the buffer, and the buffer reaches the file
//! ([`Spill::drain`]) once the lock is released, so no client waits for a `write(2)` that
//! the kernel may hold back (dirty-page throttling) while a large file is written.

use std::fs::File;
use std::io::{self, Write};

/// Buffers above this size are shrunk after a drain (one huge shard should not pin its
/// serialization's memory for the rest of the snapshot).
const KEEP: usize = 4 << 20;

/// Writes go to memory; [`Spill::drain`] writes them to the file.
pub struct Spill {
    buf: Vec<u8>,
    file: File,
}

impl Spill {
    /// A writer for `file`.
    pub fn new(file: File) -> Spill {
        Spill {
            buf: Vec::with_capacity(1 << 20),
            file,
        }
    }

    /// Write what was buffered to the file.
    pub fn drain(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        if self.buf.capacity() > KEEP {
            self.buf.shrink_to(1 << 20);
        }
        Ok(())
    }

    /// Drain and return the file (to fsync it).
    pub fn into_file(mut self) -> io::Result<File> {
        self.drain()?;
        Ok(self.file)
    }
}

impl Write for Spill {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    /// Nothing: the file is written by [`Spill::drain`] only.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Bytes reach the file only when drained, in order.
    #[test]
    fn writes_reach_the_file_on_drain() {
        let path = std::env::temp_dir().join(format!("ferrokv-spill-{}", std::process::id()));
        let mut s = Spill::new(File::create(&path).expect("create"));
        s.write_all(b"abc").expect("write");
        s.flush().expect("flush");
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 0);
        s.drain().expect("drain");
        s.write_all(b"def").expect("write");
        drop(s.into_file().expect("into_file"));
        let mut text = String::new();
        File::open(&path)
            .expect("open")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "abcdef");
        let _ = std::fs::remove_file(&path);
    }
}
