"""Partner S3 drop zone: per-partner buckets with write-only keys, detection, processing, e-mail.

models        ORM tables (dropzone_*): buckets and keys, the object ledger, event checkpoints
backends      SeaweedFS (identities `Write:<bucket>`) and AWS (IAM PutObject-only, S3 → SQS)
provisioning  provision / rotate / revoke a partner's key; ledger reads
ledger        idempotent inserts keyed by (bucket, key, etag); recovery queries
events        SeaweedFS metadata-log and SQS listeners (the fast path)
processing    one object: the S3 channel's checks, then `partners.intake` (as REST does)
report_mail   the result e-mail (status, French summary, JSON report attached)
tasks         jobs: drain a bucket, e-mail, archive, periodic sweep; new objects recorded
batch         one batch of a drain: lock, download, process (a savepoint per file), record
delivery      the result e-mail (once) and the archive copies
dataplane     per-object S3 calls through obstore (boto3 for keys it cannot name)
router        /admin/dropzone/… (operators), /api/third_party/dropzone/… (partners)
cli           `guichet dropzone …`
"""
