package s3

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vigilsec/vigil/ingest"
)

// GetObjectAPI is the S3 call an ObjectReader makes.
type GetObjectAPI interface {
	GetObject(ctx context.Context, in *awss3.GetObjectInput, opts ...func(*awss3.Options)) (*awss3.GetObjectOutput, error)
}

// ObjectReader streams S3 objects through a decoder: the body is
// decompressed and decoded as it downloads, never held whole in memory.
// The SQS notification source uses it too.
type ObjectReader struct {
	// Client fetches objects. Required.
	Client GetObjectAPI
	// Decoder decodes the (decompressed) content. Required.
	Decoder ingest.Decoder
	// Limits caps record and decompressed sizes. Zero means the defaults.
	Limits ingest.Limits

	objects, bytes atomic.Int64
}

// Progress returns how many objects and compressed bytes were read.
func (r *ObjectReader) Progress() (objects, bytes int64) {
	return r.objects.Load(), r.bytes.Load()
}

// URI returns the s3:// name of an object, used as the events' Source.
func URI(bucket, key string) string { return "s3://" + bucket + "/" + key }

// Read streams the object bucket/key to h.
//
// Whatever is wrong with the object itself is reported through h.Bad with
// the object's s3:// name and the decompressed offset where decoding
// stopped, and Read returns nil: a missing object, a corrupt or truncated
// gzip stream, a content over the decompressed-size cap. The records
// decoded before the damage are kept. Read returns an error only when the
// object could not be read and trying again later may help (network,
// credentials, throttling), when h.Event fails, or when ctx ends.
//
// opts apply to the GetObject call, e.g. the bucket's region.
func (r *ObjectReader) Read(ctx context.Context, bucket, key string, h ingest.Handler, opts ...func(*awss3.Options)) error {
	src := URI(bucket, key)
	out, err := r.Client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, opts...)
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			h.Report(&ingest.DecodeError{Source: src, Offset: -1, Err: fmt.Errorf("object is gone: %w", err)})
			return nil
		}
		return fmt.Errorf("get %s: %w", src, err)
	}
	defer out.Body.Close()
	body := &bodyReader{r: out.Body}
	defer func() { r.bytes.Add(body.n); r.objects.Add(1) }()

	content, err := ingest.Open(body, r.Limits)
	if err != nil {
		if body.err != nil {
			return fmt.Errorf("read %s: %w", src, body.err)
		}
		h.Report(&ingest.DecodeError{Source: src, Offset: 0, Err: err})
		return nil
	}
	cr := &countReader{r: content, body: body}
	err = r.Decoder.Decode(ctx, cr, src, h)
	switch {
	case err == nil && cr.damage != nil:
		h.Report(&ingest.DecodeError{Source: src, Offset: cr.n, Err: cr.damage})
		return nil
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case body.err != nil && !errors.Is(body.err, io.EOF):
		return fmt.Errorf("read %s: %w", src, body.err)
	case damaged(err):
		h.Report(&ingest.DecodeError{Source: src, Offset: cr.n, Err: err})
		return nil
	default:
		return err
	}
}

// damaged reports whether err comes from the object's content rather than
// from reading it.
func damaged(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.As(err, &corrupt) ||
		errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, ingest.ErrDecompressedTooLarge)
}

// bodyReader remembers the error of the downloaded body, to tell a broken
// connection from a broken object, and counts the bytes downloaded.
type bodyReader struct {
	r   io.Reader
	n   int64
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

// countReader counts the decompressed bytes handed to the decoder. Damage
// to the content (not a failed download) ends the stream for the decoder
// like EOF, so that it keeps and reports everything before it; the damage
// is kept for the caller to report.
type countReader struct {
	r      io.Reader
	body   *bodyReader
	n      int64
	damage error
}

func (c *countReader) Read(p []byte) (int, error) {
	if c.damage != nil {
		return 0, io.EOF
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && c.body.err == nil && damaged(err) {
		c.damage = err
		return n, io.EOF
	}
	return n, err
}
