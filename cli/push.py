"""``siamtext push``: publish a model folder to the Hugging Face Hub, with its model card."""

from __future__ import annotations

import click


@click.command()
@click.argument("model_dir")
@click.option("--repo", "repo_id", required=True, help="Hub repo id: name (under your account) or user/name.")
@click.option("--private", is_flag=True, help="Create the repo private (an existing repo keeps its visibility).")
@click.option("--revision", default=None, help="Branch to upload to (created from main if missing).")
@click.option("--create-pr", is_flag=True, help="Open a pull request against main instead of committing to it.")
@click.option("--commit-message", default=None, help="Commit message (default names the folder).")
@click.option("--keep-card", is_flag=True, help="Upload README.md as it is instead of regenerating the model card.")
@click.option("--dry-run", is_flag=True, help="List the files and sizes that would be uploaded and show the card; no network.")
def push(model_dir: str, repo_id: str, private: bool, revision: str | None, create_pr: bool,
         commit_message: str | None, keep_card: bool, dry_run: bool) -> None:
    """Upload MODEL_DIR to the Hub; the token comes from HF_TOKEN or 'hf auth login' and is never shown."""
    from siamese_text.hub import check_repo_id, describe_upload, plan_upload, push_to_hub

    check_repo_id(repo_id)
    if dry_run:
        click.echo(describe_upload(plan_upload(model_dir, repo_id=repo_id, card=not keep_card)))
        return
    url = push_to_hub(model_dir, repo_id=repo_id, private=private, revision=revision, create_pr=create_pr,
                      commit_message=commit_message, card=not keep_card)
    click.echo(f"{'opened a pull request' if create_pr else 'uploaded'}: {url}")
