"""Files and uploads: records, one-shot and multipart uploads, signed downloads, the dataset
checks of ``check_file``, and the routes."""
