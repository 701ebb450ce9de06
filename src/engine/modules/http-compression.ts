/**
 * Body compression as k6 does it (grafana/k6 lib/netext/httpext/compression.go): the request body compressed with
 * params.compression (compressBody), the response body decoded by its Content-Encoding (readResponseBody).
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { UnsupportedK6ApiError } from '../runtime.ts';
import { bodyTooBig, type Failure, type NodeNetError } from './http-error-codes.ts';

// ---- the request body -------------------------------------------------------------------------------

export const COMPRESSIONS = ['gzip', 'deflate', 'zstd', 'br'];

export function compress(algos: string[], body: Uint8Array): Uint8Array {
  let out = Buffer.from(body);
  for (const algo of algos) {
    if (algo === 'gzip') out = zlib.gzipSync(out);
    else if (algo === 'deflate') out = zlib.deflateSync(out);
    else if (algo === 'br') out = zlib.brotliCompressSync(out);
    else {
      throw new UnsupportedK6ApiError(
        `the '${algo}' request compression`,
        'the Node engine compresses with gzip, deflate or br',
      );
    }
  }
  return out;
}

// ---- the response body ------------------------------------------------------------------------------

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const brotli = promisify(zlib.brotliDecompress);
const zstd = (zlib as unknown as { zstdDecompress?: typeof zlib.gunzip }).zstdDecompress;
const unzstd = zstd ? promisify(zstd) : undefined;

export class BodyTooBigError extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

/**
 * compression.go readResponseBody: undoes the Content-Encoding, last applied first; unknown ones stay. Each step's
 * output is capped at `limit` (zlib stops inflating there), so a small bomb cannot take more than the limit.
 */
export async function decodeBody(
  body: Buffer,
  contentEncoding: string | undefined,
  limit: number,
): Promise<Buffer> {
  if (!contentEncoding) return body;
  const encodings = contentEncoding.split(',');
  const opts = Number.isFinite(limit) ? { maxOutputLength: limit } : {};
  let out = body;
  for (let i = encodings.length - 1; i >= 0; i--) {
    const enc = encodings[i]!.trim();
    try {
      if (enc === 'gzip') out = await gunzip(out, opts);
      else if (enc === 'deflate') out = await inflate(out, opts);
      else if (enc === 'br') out = await brotli(out, opts);
      else if (enc === 'zstd' && unzstd) out = await unzstd(out, opts);
    } catch (e) {
      if ((e as NodeNetError).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new BodyTooBigError(bodyTooBig(limit, `once decompressed from ${enc}`));
      }
      throw new DecompressionError(enc, e as NodeNetError);
    }
  }
  return out;
}

class DecompressionError extends Error {
  constructor(encoding: string, cause: NodeNetError) {
    const m = cause.message;
    const prefix = encoding === 'gzip' ? 'gzip' : encoding === 'deflate' ? 'zlib' : encoding;
    const go = /header/.test(m)
      ? `${prefix}: invalid header`
      : /check/.test(m)
        ? `${prefix}: invalid checksum`
        : encoding === 'br'
          ? `brotli: ${m}`
          : m;
    super(`error decompressing response body (${go})`);
  }
}
