"""BibTeX for the methods the losses and model cards cite: one copy, used by both.

Each entry has ``what`` (a one-line name for the card's citation list) and ``bibtex``.
"""

from __future__ import annotations

__all__ = ["CITATIONS"]

CITATIONS: dict[str, dict[str, str]] = {
    "contrastive": {
        "what": "Contrastive loss (Hadsell, Chopra & LeCun, 2006)",
        "bibtex": """@inproceedings{hadsell2006dimensionality,
  title     = {Dimensionality Reduction by Learning an Invariant Mapping},
  author    = {Hadsell, Raia and Chopra, Sumit and LeCun, Yann},
  booktitle = {IEEE Computer Society Conference on Computer Vision and Pattern Recognition (CVPR)},
  volume    = {2},
  pages     = {1735--1742},
  year      = {2006}
}""",
    },
    "centroid-triplet": {
        "what": "Centroid triplet loss (Wieczorek, Rychalska & Dabrowski, 2021)",
        "bibtex": """@inproceedings{wieczorek2021centroids,
  title     = {On the Unreasonable Effectiveness of Centroids in Image Retrieval},
  author    = {Wieczorek, Miko{\\l}aj and Rychalska, Barbara and D{\\k{a}}browski, Jacek},
  booktitle = {Neural Information Processing (ICONIP)},
  year      = {2021},
  url       = {https://arxiv.org/abs/2104.13643}
}""",
    },
    "prototypical": {
        "what": "Prototypical networks (Snell, Swersky & Zemel, 2017)",
        "bibtex": """@inproceedings{snell2017prototypical,
  title     = {Prototypical Networks for Few-shot Learning},
  author    = {Snell, Jake and Swersky, Kevin and Zemel, Richard},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {30},
  year      = {2017},
  url       = {https://arxiv.org/abs/1703.05175}
}""",
    },
    "cosent": {
        "what": "CoSENT ranking loss (Su, 2022)",
        "bibtex": """@online{su2022cosent,
  title  = {CoSENT: A more efficient sentence vector scheme than Sentence-BERT},
  author = {Su, Jianlin},
  year   = {2022},
  url    = {https://kexue.fm/archives/8847}
}""",
    },
    "sbert": {
        "what": "Sentence-BERT (Reimers & Gurevych, 2019)",
        "bibtex": """@inproceedings{reimers-2019-sentence-bert,
  title     = {Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks},
  author    = {Reimers, Nils and Gurevych, Iryna},
  booktitle = {Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing},
  publisher = {Association for Computational Linguistics},
  pages     = {3982--3992},
  year      = {2019},
  url       = {https://arxiv.org/abs/1908.10084}
}""",
    },
    "triplet": {
        "what": "Triplet loss (Schroff, Kalenichenko & Philbin, 2015)",
        "bibtex": """@inproceedings{schroff2015facenet,
  title     = {FaceNet: A Unified Embedding for Face Recognition and Clustering},
  author    = {Schroff, Florian and Kalenichenko, Dmitry and Philbin, James},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {815--823},
  year      = {2015},
  url       = {https://arxiv.org/abs/1503.03832}
}""",
    },
    "adaptive-margin": {
        "what": "Adaptive-margin triplet loss for rated pairs (Ha & Blanz, 2021)",
        "bibtex": """@article{ha2021adaptive,
  title   = {Deep Ranking with Adaptive Margin Triplet Loss},
  author  = {Ha, Mai Lan and Blanz, Volker},
  journal = {arXiv preprint},
  year    = {2021}
}""",
    },
    "batch-triplet": {
        "what": "Batch-hard / batch-all triplet mining (Hermans, Beyer & Leibe, 2017)",
        "bibtex": """@article{hermans2017defense,
  title   = {In Defense of the Triplet Loss for Person Re-Identification},
  author  = {Hermans, Alexander and Beyer, Lucas and Leibe, Bastian},
  journal = {arXiv preprint arXiv:1703.07737},
  year    = {2017}
}""",
    },
}
