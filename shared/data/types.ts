// The shape of a loaded dataset slice, shared by training, partitioning and the public transfer set.

/** A slice of a labelled image dataset, held in memory as flat typed arrays. */
export interface Dataset {
  /** The split spec that produced this slice, normalised, e.g. "mnist:test[0:9000]". */
  readonly spec: string;
  /** Dataset id, e.g. "mnist" or "fashion-mnist". */
  readonly name: string;
  /** Split name, e.g. "train" or "test". */
  readonly split: string;
  /** Number of samples. */
  readonly length: number;
  /** Per-sample shape, channels first: [1, 28, 28]. */
  readonly shape: readonly number[];
  /** Number of classes; labels are 0..numClasses-1. */
  readonly numClasses: number;
  /** length × prod(shape) values in [0, 1], row-major. */
  readonly features: Float32Array;
  /** length labels. */
  readonly labels: Uint8Array;
  /** SHA-256 (hex) over the slice's raw bytes and labels, so a site and the aggregator can check they hold the same set. */
  readonly hash: string;
  /**
   * The 8-bit source pixels (length × prod(shape)), when the dataset came from 8-bit images.
   * Cheaper to copy and hash than `features`; `features` is exactly pixels / 255.
   */
  readonly pixels?: Uint8Array;
  /** Set when this dataset is a subset: the parent's spec and the chosen indices into it. */
  readonly subsetOf?: { readonly spec: string; readonly indices: Uint32Array };
}
