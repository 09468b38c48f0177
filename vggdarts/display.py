"""Inline display in a kernel (JupyterLab, papermill), with a plain-text form that a batch log can print.

Outside IPython nothing is displayed: a figure is only freed, Markdown is printed."""
from __future__ import annotations


def show(fig, label: str = "") -> None:
    """Display a figure inline (JupyterLab, papermill) and free it.  Its plain-text form, what a batch log
    prints, names the figure instead of matplotlib's ``<Figure size ...>``."""
    import base64
    import io

    import matplotlib.pyplot as plt

    try:
        display = _ipython_display()
        if display is None:  # plain Python: nothing to show it in
            return
        png = io.BytesIO()
        fig.savefig(png, format="png", bbox_inches="tight")
        title = fig._suptitle.get_text() if fig._suptitle is not None else ""
        display({"image/png": base64.b64encode(png.getvalue()).decode(),
                 "text/plain": f"[figure] {label or title or 'untitled'}"}, raw=True)
    finally:
        plt.close(fig)


def markdown(text: str):
    """Display Markdown; its plain-text form (a batch log) is the text itself."""
    display = _ipython_display()
    if display is None:  # plain Python
        print(text)
    else:
        display({"text/markdown": text, "text/plain": text}, raw=True)


def _ipython_display():
    """IPython's ``display`` inside a kernel or IPython shell, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    return display if get_ipython() is not None else None
