package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Store keeps objects in an S3 bucket under a prefix. Credentials come from
// the standard AWS chain (environment, shared config, instance role).
type S3Store struct {
	client *s3.Client
	bucket string
	prefix string
}

var _ ObjectStore = (*S3Store)(nil)

// NewS3Client builds an S3 client from the AWS chain and o's endpoint
// overrides.
func NewS3Client(ctx context.Context, o Options) (*s3.Client, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if o.S3Region != "" {
		cfg.Region = o.S3Region
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.S3Endpoint != "" {
			so.BaseEndpoint = aws.String(o.S3Endpoint)
		}
		so.UsePathStyle = o.S3PathStyle
		// S3-compatible servers vary in their support for the newer
		// default checksums; compute them only where an API needs one.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}

// NewS3Store returns a store on bucket under prefix.
func NewS3Store(ctx context.Context, bucket, prefix string, o Options) (*S3Store, error) {
	client, err := NewS3Client(ctx, o)
	if err != nil {
		return nil, err
	}
	return &S3Store{client: client, bucket: bucket, prefix: strings.Trim(prefix, "/")}, nil
}

// URL implements ObjectStore.
func (s *S3Store) URL() string {
	if s.prefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + s.prefix
}

func (s *S3Store) objectKey(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if s.prefix == "" {
		return key, nil
	}
	return path.Join(s.prefix, key), nil
}

// Put implements ObjectStore. A PUT in S3 is atomic.
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader) error {
	k, err := s.objectKey(key)
	if err != nil {
		return err
	}
	body, ok := r.(io.ReadSeeker)
	if !ok {
		// The SDK needs a seekable body to sign and retry; buffer others.
		b, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("reading body for %q: %w", key, err)
		}
		body = strings.NewReader(string(b))
	}
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &k, Body: body}); err != nil {
		return fmt.Errorf("writing s3://%s/%s: %w", s.bucket, k, err)
	}
	return nil
}

// Get implements ObjectStore.
func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		var nsk *types.NoSuchKey
		var api smithy.APIError
		if errors.As(err, &nsk) || (errors.As(err, &api) && api.ErrorCode() == "NotFound") {
			return nil, fmt.Errorf("reading %q: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("reading s3://%s/%s: %w", s.bucket, k, err)
	}
	return out.Body, nil
}

// List implements ObjectStore.
func (s *S3Store) List(ctx context.Context, prefix string) ([]string, error) {
	full := prefix
	if s.prefix != "" {
		full = s.prefix + "/" + prefix
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &full})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s: %w", s.bucket, full, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if s.prefix != "" {
				k = strings.TrimPrefix(k, s.prefix+"/")
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// Delete implements ObjectStore.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	k, err := s.objectKey(key)
	if err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k}); err != nil {
		return fmt.Errorf("deleting s3://%s/%s: %w", s.bucket, k, err)
	}
	return nil
}
