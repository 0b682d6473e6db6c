"""The FastAPI app and its page over any loaded run: `create_app(run_dir)`, `serve(run_dir)`."""
