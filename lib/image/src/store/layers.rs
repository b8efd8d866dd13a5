//! Unpacked layers under `layers/<chain ID>/`: `diff/` in overlayfs form and `layer.json`.
//! A layer is unpacked once, whichever image brings it first; later imports share it.

use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

use berth_common::LockMode;
use serde::{Deserialize, Serialize};

use super::blobs::TeeReader;
use super::copy::BlobCopy;
use super::{Store, TempPath};
use crate::compression::Compression;
use crate::digest::{Digest, HashingReader, LimitExceeded, LimitedReader};
use crate::error::{ImageError, Result};
use crate::formats::LayerSource;
use crate::unpack::{apply_layer, UnpackError, UnpackOptions, UnpackStats};

const READ_BUFFER: usize = 1 << 20;

/// What `layer.json` says of an unpacked layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerMeta {
    pub chain_id: String,
    pub diff_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The blob the layer came from, as stored.
    pub blob: String,
    pub blob_size: u64,
    pub media_type: String,
    /// Bytes of file content in the unpacked tree.
    pub size: u64,
    pub entries: u64,
}

/// One layer to bring into the store.
pub struct LayerInput<'a> {
    /// The image it belongs to, for error messages.
    pub image: &'a str,
    pub diff_id: Digest,
    pub parent_chain: Option<Digest>,
    /// Digest and size the manifest promises for the blob, when it names one.
    pub expected_blob: Option<(Digest, u64)>,
    pub limit: u64,
    pub unpack: &'a UnpackOptions,
    /// Called with the number of blob bytes read so far.
    pub progress: &'a (dyn Fn(u64) + Sync),
}

impl Store {
    pub fn layer_dir(&self, chain: &Digest) -> PathBuf {
        self.paths.layers().join(chain.hex())
    }

    pub fn layer_diff(&self, chain: &Digest) -> PathBuf {
        self.layer_dir(chain).join("diff")
    }

    pub fn layer_meta(&self, chain: &Digest) -> Result<LayerMeta> {
        let path = self.layer_dir(chain).join("layer.json");
        let data = std::fs::read(&path).map_err(|e| ImageError::io(&path, e))?;
        serde_json::from_slice(&data).map_err(|e| ImageError::BadImage {
            image: chain.to_string(),
            reason: format!("{}: {e}", path.display()),
        })
    }

    /// Makes sure the layer is unpacked and its blob stored, reading `open()` only if
    /// something is missing. The caller holds the store lock shared.
    pub fn ingest_layer(
        &self,
        input: &LayerInput<'_>,
        open: &mut dyn FnMut() -> Result<LayerSource>,
    ) -> Result<LayerMeta> {
        self.ingest_layer_via(input, &mut || Ok((open()?, None)))
    }

    /// [`Store::ingest_layer`] whose `open` may also give the writer the blob goes to (a
    /// download's kept part: `resume.rs`).
    pub(crate) fn ingest_layer_via(
        &self,
        input: &LayerInput<'_>,
        open: &mut dyn FnMut() -> Result<(LayerSource, Option<super::BlobWriter>)>,
    ) -> Result<LayerMeta> {
        let chain = Digest::chain(input.parent_chain.as_ref(), &input.diff_id);
        let _lock = self.lock(&format!("layer-{}.lock", chain.hex()), LockMode::Exclusive)?;
        if self.layer_dir(&chain).join("layer.json").is_file() {
            let meta = self.layer_meta(&chain)?;
            let wanted = match &input.expected_blob {
                Some((digest, _)) => digest.clone(),
                None => Digest::parse(&meta.blob)?,
            };
            if self.has_blob(&wanted) {
                let same_blob = wanted.as_str() == meta.blob;
                let size = if same_blob {
                    meta.blob_size
                } else {
                    input.expected_blob.as_ref().map_or(meta.blob_size, |b| b.1)
                };
                let media_type = if same_blob {
                    meta.media_type.clone()
                } else {
                    self.blob_media_type(&wanted)?
                };
                return Ok(LayerMeta {
                    blob: wanted.to_string(),
                    blob_size: size,
                    media_type,
                    ..meta
                });
            }
            // Same content under another blob (another compression): store that blob, verified.
            let streamed = self.read_layer_blob(input, open()?, None)?;
            let media_type = streamed.compression.layer_media_type().to_string();
            let size = streamed.size;
            let digest = streamed.blob.commit(self)?;
            return Ok(LayerMeta {
                blob: digest.to_string(),
                blob_size: size,
                media_type,
                ..meta
            });
        }
        let work = TempPath::new_dir(&self.tmp(), "layer")?;
        let diff = work.path().join("diff");
        std::fs::create_dir(&diff).map_err(|e| ImageError::io(&diff, e))?;
        let streamed = self.read_layer_blob(input, open()?, Some(&diff))?;
        self.commit_layer(work, streamed, input.parent_chain.as_ref())
    }

    fn blob_media_type(&self, digest: &Digest) -> Result<String> {
        let path = self.blob_path(digest);
        let mut head = [0u8; 4];
        let mut file = std::fs::File::open(&path).map_err(|e| ImageError::io(&path, e))?;
        let n = file.read(&mut head).map_err(|e| ImageError::io(&path, e))?;
        Ok(Compression::sniff(&head[..n])
            .layer_media_type()
            .to_string())
    }

    /// Streams the blob once: copies it towards the blob store, computes its digest and
    /// diff ID, and unpacks it into `unpack_into` when given. Nothing is committed here.
    pub(crate) fn stream_layer(
        &self,
        image: &str,
        layer_name: &str,
        source: LayerSource,
        limits: (&UnpackOptions, u64, &(dyn Fn(u64) + Sync)),
        unpack_into: Option<&std::path::Path>,
    ) -> Result<StreamedLayer> {
        self.stream_layer_into(image, layer_name, source, None, limits, unpack_into)
    }

    /// [`Store::stream_layer`] into `writer` when given (else a fresh blob file).
    fn stream_layer_into(
        &self,
        image: &str,
        layer_name: &str,
        source: LayerSource,
        writer: Option<super::BlobWriter>,
        limits: (&UnpackOptions, u64, &(dyn Fn(u64) + Sync)),
        unpack_into: Option<&std::path::Path>,
    ) -> Result<StreamedLayer> {
        let (unpack, limit, report) = limits;
        let layer_err = |source: UnpackError| ImageError::Layer {
            image: image.to_string(),
            layer: layer_name.to_string(),
            source,
        };
        let read_err = |source: io::Error| {
            layer_err(UnpackError::Read {
                entry: None,
                source,
            })
        };
        let progress = Progress {
            inner: source.reader,
            done: 0,
            report,
        };
        let (tee, copy) = match source.file_range {
            Some(range) => (
                BlobSink::Plain(progress),
                Some(BlobCopy::start(
                    range,
                    TempPath::new_file(&self.tmp(), "blob")?,
                )?),
            ),
            None => (
                BlobSink::Tee(TeeReader {
                    inner: progress,
                    blob: match writer {
                        Some(writer) => writer,
                        None => self.blob_writer()?,
                    },
                }),
                None,
            ),
        };
        let mut buffered = BufReader::with_capacity(READ_BUFFER, tee);
        let compression = Compression::sniff(buffered.fill_buf().map_err(read_err)?);
        let mut stats = None;
        let diff_id = match compression {
            // The blob is the tar itself: its digest is the diff ID; no second hash.
            Compression::None => {
                let mut limited = LimitedReader::new(&mut buffered, limit);
                consume(&mut limited, unpack_into, unpack, &mut stats).map_err(layer_err)?;
                None
            }
            Compression::Gzip => {
                let decoder = flate2::bufread::MultiGzDecoder::new(&mut buffered);
                let mut hashed = HashingReader::new(LimitedReader::new(decoder, limit));
                consume(&mut hashed, unpack_into, unpack, &mut stats).map_err(layer_err)?;
                Some(hashed.finish().map_err(read_err)?.0)
            }
            Compression::Zstd => {
                let decoder =
                    zstd::stream::read::Decoder::with_buffer(&mut buffered).map_err(read_err)?;
                let mut hashed = HashingReader::new(LimitedReader::new(decoder, limit));
                consume(&mut hashed, unpack_into, unpack, &mut stats).map_err(layer_err)?;
                Some(hashed.finish().map_err(read_err)?.0)
            }
        };
        if copy.is_none() {
            // The rest (tar padding) must be hashed too.
            io::copy(&mut buffered, &mut io::sink()).map_err(read_err)?;
        }
        let (blob, digest, size) = match (buffered.into_inner(), copy) {
            (BlobSink::Tee(tee), _) => {
                let (digest, size) = tee.blob.digest_so_far();
                (PendingBlob::Written(tee.blob), digest, size)
            }
            (BlobSink::Plain(_), Some(copy)) => {
                let (temp, digest, size) = copy.finish()?;
                (
                    PendingBlob::Copied {
                        temp,
                        digest: digest.clone(),
                    },
                    digest,
                    size,
                )
            }
            (BlobSink::Plain(_), None) => unreachable!("a plain source always has a copy"),
        };
        let diff_id = diff_id.unwrap_or_else(|| digest.clone());
        Ok(StreamedLayer {
            blob,
            digest,
            size,
            compression,
            diff_id,
            stats: stats.unwrap_or_default(),
        })
    }

    fn read_layer_blob(
        &self,
        input: &LayerInput<'_>,
        (source, writer): (LayerSource, Option<super::BlobWriter>),
        unpack_into: Option<&std::path::Path>,
    ) -> Result<StreamedLayer> {
        let layer_name = input
            .expected_blob
            .as_ref()
            .map_or_else(|| input.diff_id.to_string(), |b| b.0.to_string());
        let streamed = self.stream_layer_into(
            input.image,
            &layer_name,
            source,
            writer,
            (input.unpack, input.limit, input.progress),
            unpack_into,
        )?;
        if let Some((expected, expected_size)) = &input.expected_blob {
            if *expected != streamed.digest || *expected_size != streamed.size {
                return Err(ImageError::DigestMismatch {
                    image: input.image.to_string(),
                    what: "layer",
                    digest: expected.to_string(),
                    actual: streamed.digest.to_string(),
                    expected_size: *expected_size,
                    actual_size: streamed.size,
                });
            }
        }
        if streamed.diff_id != input.diff_id {
            return Err(ImageError::DiffIdMismatch {
                image: input.image.to_string(),
                layer: layer_name,
                expected: input.diff_id.to_string(),
                actual: streamed.diff_id.to_string(),
            });
        }
        Ok(streamed)
    }

    /// Puts a streamed, unpacked layer in place as `chain` (after the caller verified it);
    /// if another process got there first, its copy is kept and ours dropped.
    pub(crate) fn commit_layer(
        &self,
        work: TempPath,
        streamed: StreamedLayer,
        parent: Option<&Digest>,
    ) -> Result<LayerMeta> {
        let chain = Digest::chain(parent, &streamed.diff_id);
        let meta = LayerMeta {
            chain_id: chain.to_string(),
            diff_id: streamed.diff_id.to_string(),
            parent: parent.map(|p| p.to_string()),
            blob: streamed.digest.to_string(),
            blob_size: streamed.size,
            media_type: streamed.compression.layer_media_type().into(),
            size: streamed.stats.file_bytes,
            entries: streamed.stats.entries,
        };
        streamed.blob.commit(self)?;
        if self.layer_dir(&chain).join("layer.json").is_file() {
            return Ok(meta);
        }
        let meta_path = work.path().join("layer.json");
        std::fs::write(
            &meta_path,
            serde_json::to_vec_pretty(&meta).expect("serialises"),
        )
        .map_err(|e| ImageError::io(&meta_path, e))?;
        work.persist(&self.layer_dir(&chain))?;
        Ok(meta)
    }
}

/// Where the blob's bytes go while the layer is read.
enum BlobSink<'a> {
    /// Written by the reading thread (a pipe or stdin).
    Tee(TeeReader<Progress<'a>>),
    /// Copied and hashed by `BlobCopy` on its own thread; this thread only unpacks.
    Plain(Progress<'a>),
}

impl Read for BlobSink<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BlobSink::Tee(r) => r.read(buf),
            BlobSink::Plain(r) => r.read(buf),
        }
    }
}

/// A verified blob waiting to be put in the store.
pub(crate) enum PendingBlob {
    Written(super::BlobWriter),
    Copied { temp: TempPath, digest: Digest },
}

impl PendingBlob {
    pub fn commit(self, store: &Store) -> Result<Digest> {
        match self {
            PendingBlob::Written(writer) => Ok(writer.commit(store)?.0),
            PendingBlob::Copied { temp, digest } => {
                let dest = store.blob_path(&digest);
                if !dest.is_file() {
                    temp.persist(&dest)?;
                }
                Ok(digest)
            }
        }
    }
}

/// A layer read through once, its blob not yet committed.
pub(crate) struct StreamedLayer {
    pub blob: PendingBlob,
    pub digest: Digest,
    pub size: u64,
    pub compression: Compression,
    pub diff_id: Digest,
    pub stats: UnpackStats,
}

/// Unpacks the tar stream, or when only the blob is wanted, reads it through so it is hashed.
fn consume<R: Read>(
    stream: &mut R,
    unpack_into: Option<&std::path::Path>,
    unpack: &UnpackOptions,
    stats: &mut Option<UnpackStats>,
) -> std::result::Result<(), UnpackError> {
    let result = match unpack_into {
        Some(dir) => apply_layer(&mut *stream, dir, unpack).map(|s| *stats = Some(s)),
        None => Ok(()),
    };
    let result = result.and_then(|()| {
        io::copy(stream, &mut io::sink())
            .map(drop)
            .map_err(|source| UnpackError::Read {
                entry: None,
                source,
            })
    });
    result.map_err(limit_first)
}

/// A read error caused by the size limit reads better as such than as a tar error.
fn limit_first(err: UnpackError) -> UnpackError {
    if let UnpackError::Read { source, .. } | UnpackError::Sys { source, .. } = &err {
        if let Some(limit) = source
            .get_ref()
            .and_then(|e| e.downcast_ref::<LimitExceeded>())
        {
            return UnpackError::Read {
                entry: None,
                source: io::Error::other(LimitExceeded { limit: limit.limit }),
            };
        }
    }
    err
}

struct Progress<'a> {
    inner: Box<dyn Read>,
    done: u64,
    report: &'a (dyn Fn(u64) + Sync),
}

impl Read for Progress<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        (self.report)(self.done);
        Ok(n)
    }
}
