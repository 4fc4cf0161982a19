"""Everything fastfeed knows about LFW: its file layout, the verification protocol files,
and the people in a tree or archive. The `lfw_pairs` builder, the CLI and the
benchmarks read LFW through this module, and the pair stream is fed from
:func:`people_from_dir`; it imports neither TensorFlow nor TFDS at import time.

    DATA = files.data_root()  # $FASTFEED_DATA (docs/data.md)
    people = people_from_dir(f'{DATA}/lfw/lfw-deepfunneled.tgz')  # or a folder
    test_people = people_in_protocol_files([f'{DATA}/lfw/pairs.txt'])

Protocol file format (http://vis-www.cs.umass.edu/lfw/README.txt): a header, then one
pair a line, tab-separated, with 1-based image indices that map to ``<Name>/<Name>_%04d.jpg``:

    Name<TAB>i<TAB>j                 matched pair (same person)
    Name1<TAB>i<TAB>Name2<TAB>j      mismatched pair (different people)

``pairsDevTrain.txt`` / ``pairsDevTest.txt`` (View 1) start with ``N`` and hold N matched
then N mismatched pairs. ``pairs.txt`` (View 2) starts with ``F<TAB>N`` and holds F folds,
each N matched then N mismatched pairs, in file order.
The package: ``protocol`` (the pairs and people files), ``layout`` (configs, archives,
people folders, :func:`locate`), ``scoring`` (threshold, accuracy, AUC, standard
error) and ``built`` (a built `lfw_pairs` dataset read back).
"""

from fastfeed.lfw.built import export_images, people_in_lfw_pairs, require_built
from fastfeed.lfw.layout import (CONFIGS, DEFAULT_CONFIG, detect_config, extract_archive,
                                 find_images, locate, people_from_dir)
from fastfeed.lfw.protocol import (NUM_FOLDS, PROTOCOL_FILES, VIEW1_TEST_FILE,
                                   VIEW1_TEST_PEOPLE_FILE, VIEW1_TRAIN_FILE, VIEW2_FILE,
                                   VIEW2_PEOPLE_FILE, Pair, ProtocolError, image_path,
                                   load_protocol, needed_files, parse_pair_line,
                                   parse_pairs_file, parse_pairs_text, parse_people_file,
                                   people_in, people_in_protocol_files)
from fastfeed.lfw.scoring import accuracy, best_threshold, roc_auc, standard_error

__all__ = ["CONFIGS", "DEFAULT_CONFIG", "NUM_FOLDS", "PROTOCOL_FILES", "Pair",
           "ProtocolError", "VIEW1_TEST_FILE", "VIEW1_TEST_PEOPLE_FILE", "VIEW1_TRAIN_FILE",
           "VIEW2_FILE", "VIEW2_PEOPLE_FILE", "accuracy", "best_threshold", "detect_config",
           "export_images", "extract_archive", "find_images", "image_path",
           "load_protocol", "locate", "needed_files", "parse_pair_line",
           "parse_pairs_file", "parse_pairs_text", "parse_people_file", "people_from_dir",
           "people_in", "people_in_lfw_pairs", "people_in_protocol_files",
           "require_built", "roc_auc", "standard_error"]
