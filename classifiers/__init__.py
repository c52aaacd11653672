"""Lens classification on the stored representations (Stein et al. 2021, Section 3.3), and human grades.

Modules, in the order of the data flow:

- :mod:`~lensdb.classifiers.sampling`: training/validation sets from the catalogue's labels (70/30 lens split, nested
  lens:non-lens ratios 1:1 ... 1:10,000, validation at 1:10,000 or the largest the data allow, no near-lens
  non-lenses, grades as extra positives and hard negatives).
- :mod:`~lensdb.classifiers.features`: vectors by object id from the vector store (:class:`StoreFeatures`) or memory
  (:class:`ArrayFeatures`), behind one protocol.
- :mod:`~lensdb.classifiers.probe`: logistic regression by full-batch LBFGS in torch over float32/float16/streamed
  features; :mod:`~lensdb.classifiers.training` runs it end to end (``lensdb probe train``).
- :mod:`~lensdb.classifiers.metrics`: TP@N, precision@N, recall curve; :mod:`~lensdb.classifiers.plots`: Figs. 4 and 5.
- :mod:`~lensdb.classifiers.registry`: models in the database.
- :mod:`~lensdb.classifiers.scoring`: survey ranking by inner-product search or a full pass, predictions in bulk, TSV;
  :mod:`~lensdb.classifiers.sheets`: PNG sheets of cutouts for visual inspection.
- :mod:`~lensdb.classifiers.finetune`, :mod:`~lensdb.classifiers.finetune_job`: encoder + head fine-tuning (``lensdb
  finetune``).
- :mod:`~lensdb.classifiers.grades`: A / B / not-a-lens grades (``lensdb grade``).
"""
