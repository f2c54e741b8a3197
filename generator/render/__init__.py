"""Spec -> generated repository."""

from .project import RenderedProject, generate, render_project, template_root

__all__ = ["RenderedProject", "generate", "render_project", "template_root"]
