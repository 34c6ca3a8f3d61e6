//! Opening a trace file: transparent decompression (gzip, zstd, and a zip archive of one
//! file, each told by the file's first bytes, whatever its name), the cap on line length (see
//! the docs of [`crate::trace`]) and progress reports.

use super::event::{LineTooLong, TraceError, MAX_LINE_BYTES};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::Path;

/// Told the bytes of a trace file read so far (of the file as stored, before any
/// decompression), after every block read: for a progress bar.
pub type ReadProgress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// A reader that tells a [`ReadProgress`] how far it got.
struct Counted<R> {
    inner: R,
    read: u64,
    progress: Option<ReadProgress>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if let Some(progress) = &self.progress {
            progress(self.read);
        }
        Ok(n)
    }
}

/// A reader that fails (with [`LineTooLong`]) rather than hand out more than
/// [`MAX_LINE_BYTES`] bytes without a newline, so that whatever reads lines from it buffers at
/// most that much of one. It knows no line numbers: the parser reading it does (the line too
/// long is the one after the last whole line it read).
struct LineCap<R> {
    inner: R,
    /// Bytes handed out since the last newline; above [`MAX_LINE_BYTES`] once failed.
    run: usize,
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let too_long = || io::Error::new(io::ErrorKind::InvalidData, LineTooLong);
        if self.run > MAX_LINE_BYTES {
            return Err(too_long());
        }
        // At most one byte past the maximum, so that the run never passes it unnoticed.
        let room = (MAX_LINE_BYTES + 1 - self.run).min(buf.len());
        let n = self.inner.read(&mut buf[..room])?;
        self.run = match buf[..n].iter().rposition(|&b| b == b'\n') {
            Some(last) => n - last - 1,
            None => self.run + n,
        };
        if self.run > MAX_LINE_BYTES {
            return Err(too_long());
        }
        Ok(n)
    }
}

/// How a trace file is compressed, told by its first bytes (whatever its name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    /// gzip (`1f 8b`): one member or several, each with its CRC checked.
    Gzip,
    /// zstd (`28 b5 2f fd`, or a skippable frame `5? 2a 4d 18`).
    Zstd,
    /// A zip archive (`PK 03 04`, or `PK 05 06` for an empty one) holding one file.
    Zip,
}

impl Compression {
    /// The compression `start`, the first bytes of a file (at least 4 when it has them), says.
    pub fn of(start: &[u8]) -> Compression {
        match start {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [b, 0x2a, 0x4d, 0x18, ..] if b & 0xf0 == 0x50 => Compression::Zstd,
            [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Compression::Zip,
            _ => Compression::None,
        }
    }

    /// The compression of the file at `path` (`None` when it cannot be read: opening it
    /// then says why).
    pub fn of_file(path: &Path) -> Compression {
        let mut start = [0u8; 4];
        let mut read = 0;
        if let Ok(mut file) = std::fs::File::open(path) {
            while read < start.len() {
                match file.read(&mut start[read..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
        }
        Compression::of(&start[..read])
    }
}

/// Open `path`, decompressing it transparently when its first bytes say gzip, zstd or zip
/// (see [`Compression`]), its lines capped at [`MAX_LINE_BYTES`] (see the module docs).
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, TraceError> {
    open_reporting(path, None)
}

/// [`open`], telling `progress` (if any) how much of the file was read as it goes.
pub fn open_reporting(
    path: &Path,
    progress: Option<ReadProgress>,
) -> Result<Box<dyn Read + Send>, TraceError> {
    let io_error = |source| TraceError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let compression = Compression::of_file(path);
    if compression == Compression::Zip {
        let (offset, entry) = zip_entry(path, &file)?;
        file.seek(io::SeekFrom::Start(offset)).map_err(io_error)?;
        let counted = Counted { inner: file, read: offset, progress };
        let stored = BufReader::with_capacity(1 << 16, counted.take(entry.compressed));
        let content: Box<dyn Read + Send> = if entry.deflated {
            Box::new(flate2::read::DeflateDecoder::new(stored))
        } else {
            Box::new(stored)
        };
        let checked = ZipContent { inner: content, crc: crc32fast::Hasher::new(), read: 0, entry };
        let input = BufReader::with_capacity(1 << 16, checked);
        return Ok(Box::new(LineCap { inner: input, run: 0 }));
    }
    let reader = BufReader::with_capacity(1 << 16, Counted { inner: file, read: 0, progress });
    let input: Box<dyn Read + Send> = match compression {
        Compression::Gzip => {
            Box::new(BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(reader)))
        }
        Compression::Zstd => {
            Box::new(BufReader::with_capacity(1 << 16, ZstdFrames::new(reader, path)?))
        }
        Compression::None | Compression::Zip => Box::new(reader),
    };
    Ok(Box::new(LineCap { inner: input, run: 0 }))
}

/// The one file of a zip archive, as its central directory describes it.
#[derive(Clone, Debug)]
struct ZipEntry {
    name: String,
    /// Deflate (method 8) rather than stored (method 0).
    deflated: bool,
    compressed: u64,
    size: u64,
    crc32: u32,
}

/// The offset of the content of the one file in the zip archive `file`, and what it is. An
/// archive of no file or of several, an encrypted file, or a compression other than Deflate
/// or none, is an error naming what was found. Directories are not files.
fn zip_entry(path: &Path, file: &std::fs::File) -> Result<(u64, ZipEntry), TraceError> {
    let refuse = |message: String| TraceError::File { path: path.to_path_buf(), message };
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| refuse(format!("not a readable zip archive: {e}")))?;
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| refuse(format!("zip entry {}: {e}", index + 1)))?;
        if !entry.is_dir() {
            files.push((index, entry.name().to_string()));
        }
    }
    let index = match &files[..] {
        [(index, _)] => *index,
        [] => return Err(refuse("the zip archive holds no file (expected one trace)".into())),
        many => {
            let names: Vec<&str> = many.iter().take(5).map(|(_, name)| name.as_str()).collect();
            let more = if many.len() > 5 { ", ..." } else { "" };
            return Err(refuse(format!(
                "the zip archive holds {} files ({}{more}); expected one trace: unzip the one \
                 to replay",
                many.len(),
                names.join(", ")
            )));
        }
    };
    let entry =
        archive.by_index_raw(index).map_err(|e| refuse(format!("zip entry {}: {e}", index + 1)))?;
    let name = entry.name().to_string();
    if entry.encrypted() {
        return Err(refuse(format!("{name} in the zip archive is encrypted")));
    }
    let deflated = match entry.compression() {
        zip::CompressionMethod::Stored => false,
        zip::CompressionMethod::Deflated => true,
        other => {
            return Err(refuse(format!(
                "{name} in the zip archive is compressed with {other}, which replay does not \
                 read (it reads Deflate and stored files)"
            )))
        }
    };
    let offset = entry.data_start().ok_or_else(|| refuse(format!("{name}: no data offset")))?;
    let entry = ZipEntry {
        name,
        deflated,
        compressed: entry.compressed_size(),
        size: entry.size(),
        crc32: entry.crc32(),
    };
    Ok((offset, entry))
}

/// The content of a zip archive's file, checked at its end against the size and CRC-32 its
/// central directory gives, as `unzip -t` checks it.
struct ZipContent {
    inner: Box<dyn Read + Send>,
    crc: crc32fast::Hasher,
    read: u64,
    entry: ZipEntry,
}

impl Read for ZipContent {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.read += n as u64;
        let corrupt = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} (in the zip archive): {what}", self.entry.name),
            )
        };
        if self.read > self.entry.size {
            return Err(corrupt(format!(
                "more than the {} bytes the zip directory declares (a damaged archive?)",
                self.entry.size
            )));
        }
        if n == 0 {
            if self.read != self.entry.size {
                return Err(corrupt(format!(
                    "{} bytes, but the zip directory declares {} (a truncated archive?)",
                    self.read, self.entry.size
                )));
            }
            let computed = self.crc.clone().finalize();
            if computed != self.entry.crc32 {
                return Err(corrupt(format!(
                    "CRC-32 mismatch (stored {:#010x}, computed {computed:#010x}): the archive \
                     is corrupt",
                    self.entry.crc32
                )));
            }
        }
        Ok(n)
    }
}

/// A zstd stream of one or more frames (heaptrack writes one), decoded by ruzstd (pure Rust),
/// checked as `zstd -t` checks it: every frame's content checksum (the low 32 bits of the XXH64
/// of its content, RFC 8878) when the frame has one, and its content size when its header gives
/// one; skippable frames are skipped; a truncated frame, or bytes after the last frame that are
/// not a frame, are errors. Errors say which frame (counted from 1) and how many decompressed
/// bytes came before the problem.
struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    /// Whether `decoder` is inside a frame (its header read, its content not all handed out).
    in_frame: bool,
    /// Frames begun so far, skippable ones included: the current frame's number.
    frames: u64,
    /// Content bytes of the current frame handed out so far.
    in_this_frame: u64,
    /// Content bytes handed out so far, from every frame.
    decoded: u64,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R, path: &Path) -> Result<Self, TraceError> {
        let mut frames = ZstdFrames {
            source,
            decoder: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
            frames: 0,
            in_this_frame: 0,
            decoded: 0,
        };
        // The first frame's header now, so that a file that is not zstd says so at once.
        let started = frames
            .next_frame()
            .map_err(|source| TraceError::Io { path: path.to_path_buf(), source })?;
        if !started {
            return Err(TraceError::File {
                path: path.to_path_buf(),
                message: "not zstd: the file is empty".into(),
            });
        }
        Ok(frames)
    }

    /// The error for a problem in the current frame.
    fn corrupt(&self, what: impl fmt::Display) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "zstd frame {} (after {} decompressed bytes): {what}",
                self.frames, self.decoded
            ),
        )
    }

    /// Read the next frame's header, skipping skippable frames. `false` at the end of the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            self.frames += 1;
            self.in_this_frame = 0;
            match self.decoder.reset(&mut self.source) {
                Ok(()) => {
                    self.in_frame = true;
                    return Ok(true);
                }
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped =
                        io::copy(&mut (&mut self.source).take(u64::from(length)), &mut io::sink())?;
                    if skipped < u64::from(length) {
                        return Err(self.corrupt("a skippable frame is cut off (truncated file?)"));
                    }
                }
                Err(error) if self.frames == 1 => {
                    return Err(self.corrupt(format!("not zstd: {error}")))
                }
                Err(error) => {
                    return Err(self.corrupt(format!(
                        "not a zstd frame ({error}): trailing garbage after the last frame, or a \
                         damaged file"
                    )))
                }
            }
        }
    }

    /// The current frame is decoded and handed out: check it.
    fn finish_frame(&mut self) -> io::Result<()> {
        self.in_frame = false;
        let declared = self.decoder.content_size();
        if declared > 0 && declared != self.in_this_frame {
            return Err(self.corrupt(format!(
                "the frame header declares {declared} bytes of content, but {} were decoded",
                self.in_this_frame
            )));
        }
        if let Some(stored) = self.decoder.get_checksum_from_data() {
            let computed = self.decoder.get_calculated_checksum();
            if computed != Some(stored) {
                return Err(self.corrupt(format!(
                    "content checksum mismatch (stored {stored:#010x}, computed {:#010x}): the \
                     file is corrupt",
                    computed.unwrap_or(0)
                )));
            }
        }
        Ok(())
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                while self.decoder.can_collect() < buf.len() && !self.decoder.is_finished() {
                    let wanted = buf.len() - self.decoder.can_collect();
                    if let Err(error) = self
                        .decoder
                        .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(wanted))
                    {
                        return Err(self.corrupt(format!("{error} (a truncated or damaged file?)")));
                    }
                }
                let n = self.decoder.read(buf)?;
                if n > 0 {
                    self.in_this_frame += n as u64;
                    self.decoded += n as u64;
                    return Ok(n);
                }
                self.finish_frame()?;
            }
            if !self.next_frame()? {
                return Ok(0);
            }
        }
    }
}
