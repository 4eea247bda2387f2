/** Types of parse-prometheus-text-format 1.1, which ships none. */
declare module 'parse-prometheus-text-format' {
  /** One metric family; every sample value is the text of the exposition. */
  export interface MetricFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: Array<{
      value?: string;
      labels?: Record<string, string>;
      buckets?: Record<string, string>;
      quantiles?: Record<string, string>;
      count?: string;
      sum?: string;
    }>;
  }

  /** Parses Prometheus text format 0.0.4 into metric families. */
  export default function parsePrometheusTextFormat(
    text: string,
  ): MetricFamily[];
}
