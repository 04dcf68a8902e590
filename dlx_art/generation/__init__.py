"""Image generation backends (AUTOMATIC1111, Hugging Face), the router and the pipeline. No Qt."""
