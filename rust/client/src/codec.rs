//! A gRPC codec whose requests are already-encoded protobuf messages (`Bytes`) and whose
//! replies are decoded by prost. The publisher encodes each event once, keeps the frame
//! for re-sending after a reconnect, and hands the same bytes to the stream.

use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// Sends pre-encoded messages, decodes `D`.
#[derive(Debug)]
pub struct PrecodedCodec<D>(PhantomData<fn() -> D>);

impl<D> Default for PrecodedCodec<D> {
    fn default() -> Self {
        PrecodedCodec(PhantomData)
    }
}

/// Copies pre-encoded bytes into tonic's buffer.
#[derive(Debug, Default)]
pub struct PrecodedEncoder;

/// Decodes one prost message per gRPC frame.
#[derive(Debug)]
pub struct ProstDecoder<D>(PhantomData<fn() -> D>);

// NOTE: tonic gathers every ready request into one buffer until 32 KiB (~190 events of
// 100 B) and writes that as one HTTP/2 DATA frame burst; a larger yield threshold lets a
// burst of 1 KB events go out in fewer writes.
fn settings() -> BufferSettings {
    BufferSettings::new(64 * 1024, 128 * 1024)
}

impl Encoder for PrecodedEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        settings()
    }
}

impl<D: prost::Message + Default> Decoder for ProstDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        let len = src.remaining();
        let msg = D::decode(src.take(len)).map_err(|e| {
            Status::internal(format!("could not decode a reply from the server: {e}"))
        })?;
        Ok(Some(msg))
    }
}

impl<D: prost::Message + Default + Send + 'static> Codec for PrecodedCodec<D> {
    type Encode = Bytes;
    type Decode = D;
    type Encoder = PrecodedEncoder;
    type Decoder = ProstDecoder<D>;

    fn encoder(&mut self) -> PrecodedEncoder {
        PrecodedEncoder
    }

    fn decoder(&mut self) -> ProstDecoder<D> {
        ProstDecoder(PhantomData)
    }
}
