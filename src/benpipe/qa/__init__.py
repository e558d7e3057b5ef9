"""The QA stage: figures and an offline page to look at products and a dataset.

``core`` (pure arrays and tables), ``previews`` (the side outputs of the
export and labelling jobs), ``figures`` (matplotlib, PNG bytes), ``product``
and ``dataset`` (the I/O edges of ``qa_product`` and ``qa_dataset``),
``page`` (``index.html``) and ``cli`` (``benpipe qa``).  Importing this
package is cheap: ``common.smk`` reads ``benpipe.qa.core.ALGORITHM_VERSION``.
"""
