import { at, type Finding, finding, type Location } from './findings.ts';
import { intrinsicName, isPlainObject, kindOf, PSEUDO_PARAMETERS } from './intrinsics.ts';
import { awsMetric, dimensionProblem, namespaceProblem } from './metric-dimensions.ts';
import type { Template } from './parse.ts';

/**
 * Rule 7, alarms and dashboards:
 * - every metric an alarm watches has Dimensions, and for the AWS namespaces of metric-dimensions.ts exactly a
 *   dimension set the service publishes that metric with (an alarm on a series that does not exist never fires);
 *   metrics in the functions' Powertools namespace carry the `service` dimension of one of the functions, and
 *   `function_name` on ColdStart only, which has it always;
 * - a metric-math alarm returns exactly one series, and its expressions name only ids it declares;
 * - every alarm takes its Threshold from a parameter, and a threshold for a metric measured in milliseconds (or
 *   seconds) comes from a parameter that says so: the iterator-age unit mistake (a threshold in seconds against
 *   IteratorAge, which is in milliseconds) cannot slip through;
 * - a dashboard body is JSON once its `${…}` are substituted, and its metrics obey the same dimension rules.
 */

interface Powertools {
  /** POWERTOOLS_METRICS_NAMESPACE of the functions (Globals or their own), when it is a literal. */
  readonly namespaces: ReadonlySet<string>;
  /** POWERTOOLS_SERVICE_NAME of every function: the value of the `service` dimension of its metrics. */
  readonly services: ReadonlySet<string>;
}

const variablesOf = (properties: unknown): Record<string, unknown> => {
  const environment = isPlainObject(properties) ? properties.Environment : undefined;
  const variables = isPlainObject(environment) ? environment.Variables : undefined;
  return isPlainObject(variables) ? variables : {};
};

const powertoolsOf = (template: Template): Powertools => {
  const globals = variablesOf(template.Globals?.Function);
  const namespaces = new Set<string>();
  const services = new Set<string>();
  for (const resource of Object.values(template.Resources)) {
    if (!isPlainObject(resource) || resource.Type !== 'AWS::Serverless::Function') continue;
    const variables = { ...globals, ...variablesOf(resource.Properties) };
    if (typeof variables.POWERTOOLS_METRICS_NAMESPACE === 'string')
      namespaces.add(variables.POWERTOOLS_METRICS_NAMESPACE);
    if (typeof variables.POWERTOOLS_SERVICE_NAME === 'string')
      services.add(variables.POWERTOOLS_SERVICE_NAME);
  }
  return { namespaces, services };
};

interface Dimension {
  readonly name: string;
  readonly value: unknown;
}

/**
 * The one dimension set each metric of the functions is published with (shared/powertools/metrics.ts): Powertools
 * Metrics gives every metric `service` alone; `ColdStart`, which `captureColdStartMetric` publishes apart, has
 * `service` and `function_name` (the function's name, from its context). A series is named by its whole set, so an
 * alarm with one dimension more or less than that watches a series that never gets a data point.
 */
const POWERTOOLS_DIMENSIONS = (name: string): readonly string[] =>
  name === 'ColdStart' ? ['service', 'function_name'] : ['service'];
const KNOWN_POWERTOOLS_DIMENSIONS: readonly string[] = ['service', 'function_name'];

const sameNames = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((name) => b.includes(name));

/** Why a metric (namespace, name, dimensions) names no series the services or the functions publish. */
const metricProblems = (
  namespace: unknown,
  name: unknown,
  dimensions: readonly Dimension[],
  powertools: Powertools,
): string[] => {
  if (typeof namespace !== 'string' || typeof name !== 'string') return [];
  if (powertools.namespaces.has(namespace)) {
    const service = dimensions.find((dimension) => dimension.name === 'service');
    const problems: string[] = [];
    if (service === undefined) {
      problems.push(
        `${namespace} ${name} is published with the dimension service (a function's POWERTOOLS_SERVICE_NAME)`,
      );
    } else if (typeof service.value === 'string' && !powertools.services.has(service.value)) {
      problems.push(
        `service ${service.value} is no function's POWERTOOLS_SERVICE_NAME (${[...powertools.services].join(', ')})`,
      );
    }
    const expected = POWERTOOLS_DIMENSIONS(name);
    const extra = dimensions.filter((dimension) => !expected.includes(dimension.name));
    const names = dimensions.map((dimension) => dimension.name);
    if (extra.some((dimension) => !KNOWN_POWERTOOLS_DIMENSIONS.includes(dimension.name))) {
      problems.push(
        `${namespace} metrics have no dimension ${extra.map((dimension) => dimension.name).join(', ')}`,
      );
    } else if (service !== undefined && !sameNames(names, expected)) {
      problems.push(
        `${namespace} ${name} is published with dimensions ${expected.join(' + ')}, not ${names.join(' + ')}`,
      );
    }
    return problems;
  }
  const problem = dimensionProblem(
    namespace,
    name,
    dimensions.map((dimension) => dimension.name),
  );
  return problem === undefined ? [] : [problem];
};

const dimensionsOf = (value: unknown): Dimension[] | undefined =>
  Array.isArray(value)
    ? value.filter(isPlainObject).map((entry) => ({ name: String(entry.Name), value: entry.Value }))
    : undefined;

const UNITS = {
  Milliseconds: /millisecond|Milliseconds$|Ms$/,
  Seconds: /(?<!milli)seconds?\b|(?<!Milli)Seconds$/i,
  Minutes: /minutes?\b|Minutes$/i,
  Hours: /hours?\b|Hours$/i,
} as const;

/** The time unit a parameter's name or description gives it, if any. */
const unitOf = (name: string, parameter: Record<string, unknown>): keyof typeof UNITS | undefined => {
  const description = typeof parameter.Description === 'string' ? parameter.Description : '';
  const said = (Object.keys(UNITS) as Array<keyof typeof UNITS>).filter(
    (unit) => UNITS[unit].test(name) || UNITS[unit].test(description),
  );
  // "milliseconds" also reads as "seconds" to a loose pattern; the more precise unit wins.
  return said.includes('Milliseconds') ? 'Milliseconds' : said[0];
};

class ObservabilityChecker {
  readonly findings: Finding[] = [];
  readonly template: Template;
  readonly powertools: Powertools;

  constructor(template: Template) {
    this.template = template;
    this.powertools = powertoolsOf(template);
  }

  report(location: Location, message: string): void {
    this.findings.push(finding(location, message));
  }

  checkMetric(
    namespace: unknown,
    name: unknown,
    dimensions: unknown,
    location: Location,
    what: string,
  ): void {
    const unknown = typeof namespace === 'string' ? namespaceProblem(namespace) : undefined;
    if (unknown !== undefined) {
      this.report(at(location, 'Namespace'), unknown);
      return;
    }
    const list = dimensionsOf(dimensions);
    if (list === undefined || list.length === 0) {
      this.report(at(location, 'Dimensions'), `${what} needs Dimensions naming what it watches`);
      return;
    }
    for (const problem of metricProblems(namespace, name, list, this.powertools)) {
      this.report(at(location, 'Dimensions'), problem);
    }
  }

  checkAlarm(logicalId: string, properties: Record<string, unknown>): void {
    const location = { resource: logicalId, path: '' };
    let returned: { namespace: unknown; name: unknown } | undefined;

    if (properties.MetricName !== undefined && properties.Metrics === undefined) {
      this.checkMetric(
        properties.Namespace,
        properties.MetricName,
        properties.Dimensions,
        location,
        'an alarm on MetricName',
      );
      returned = { namespace: properties.Namespace, name: properties.MetricName };
    }

    if (Array.isArray(properties.Metrics)) {
      const metricsLocation = at(location, 'Metrics');
      const ids = new Set(
        properties.Metrics.filter(isPlainObject)
          .map((entry) => entry.Id)
          .filter((id) => typeof id === 'string'),
      );
      const returning = properties.Metrics.filter(
        (entry) => isPlainObject(entry) && entry.ReturnData !== false && entry.ReturnData !== 'false',
      );
      if (returning.length !== 1) {
        this.report(
          metricsLocation,
          `a metric-math alarm returns exactly one series (ReturnData true), got ${returning.length}`,
        );
      }
      properties.Metrics.forEach((entry, index) => {
        if (!isPlainObject(entry)) return;
        const entryLocation = at(metricsLocation, index);
        const stat = isPlainObject(entry.MetricStat) ? entry.MetricStat : undefined;
        const metric = stat && isPlainObject(stat.Metric) ? stat.Metric : undefined;
        if (metric) {
          this.checkMetric(
            metric.Namespace,
            metric.MetricName,
            metric.Dimensions,
            at(at(entryLocation, 'MetricStat'), 'Metric'),
            'a metric',
          );
          if (returning.includes(entry)) returned = { namespace: metric.Namespace, name: metric.MetricName };
        }
        if (typeof entry.Expression === 'string') {
          // Metric-math functions are upper case (FILL, IF, SUM…); lower-case words are ids.
          for (const word of entry.Expression.match(/\b[a-z][A-Za-z0-9_]*\b/g) ?? []) {
            if (!ids.has(word))
              this.report(at(entryLocation, 'Expression'), `names ${word}, which is no Id of Metrics`);
          }
        }
      });
    }

    this.checkPeriods(properties, location);
    if (properties.ThresholdMetricId !== undefined) return;
    this.checkThreshold(properties.Threshold, at(location, 'Threshold'), returned);
  }

  /** A literal number, or the Default of the Number parameter a Ref names (then `viaParameter`). */
  numberOf(value: unknown): { value: number; viaParameter: boolean } | undefined {
    if (typeof value === 'number') return { value, viaParameter: false };
    if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value)))
      return { value: Number(value), viaParameter: false };
    const name = isPlainObject(value) && intrinsicName(value) === 'Ref' ? value.Ref : undefined;
    const parameter = typeof name === 'string' ? this.template.Parameters?.[name] : undefined;
    const fallback = parameter?.Default;
    if (fallback === undefined || Number.isNaN(Number(fallback))) return undefined;
    return { value: Number(fallback), viaParameter: true };
  }

  /**
   * CloudWatch API reference, PutMetricAlarm, Period: "Valid values are 10, 20, 30, and any multiple of 60", and
   * "Period multiplied by EvaluationPeriods can't be more than 604,800 seconds. For alarms with a period of less than
   * one hour (3,600 seconds), the total evaluation period can't be longer than one day (86,400 seconds)". A metric of
   * a metric-math alarm (MetricStat.Period) also takes 1 and 5, high-resolution periods (MetricStat, Period).
   */
  checkPeriods(properties: Record<string, unknown>, location: Location): void {
    const periods: Array<{ period: unknown; where: Location; highResolution: readonly number[] }> = [];
    if (properties.Period !== undefined)
      periods.push({
        period: properties.Period,
        where: at(location, 'Period'),
        highResolution: [10, 20, 30],
      });
    if (Array.isArray(properties.Metrics)) {
      properties.Metrics.forEach((entry, index) => {
        const stat = isPlainObject(entry) && isPlainObject(entry.MetricStat) ? entry.MetricStat : undefined;
        if (stat?.Period === undefined) return;
        periods.push({
          period: stat.Period,
          where: at(at(at(at(location, 'Metrics'), index), 'MetricStat'), 'Period'),
          highResolution: [1, 5, 10, 20, 30],
        });
      });
    }
    const evaluations = this.numberOf(properties.EvaluationPeriods);
    for (const { period, where, highResolution } of periods) {
      const seconds = this.numberOf(period);
      if (seconds === undefined) continue;
      const suffix = seconds.viaParameter ? ' (with the parameter defaults)' : '';
      if (!highResolution.includes(seconds.value) && (seconds.value <= 0 || seconds.value % 60 !== 0)) {
        this.report(
          where,
          `${seconds.value} s is no period CloudWatch takes: ${highResolution.join(', ')} or a multiple of 60${suffix}`,
        );
        continue;
      }
      if (evaluations === undefined) continue;
      const limit = seconds.value < 3600 ? 86400 : 604800;
      const total = seconds.value * evaluations.value;
      if (total > limit) {
        this.report(
          at(location, 'EvaluationPeriods'),
          `${evaluations.value} periods of ${seconds.value} s is ${total} s, beyond the ${limit === 86400 ? 'one day (86400 s) of a period under an hour' : 'seven days (604800 s)'} CloudWatch evaluates${evaluations.viaParameter || seconds.viaParameter ? ' (with the parameter defaults)' : ''}`,
        );
      }
    }
  }

  checkThreshold(
    threshold: unknown,
    location: Location,
    returned: { namespace: unknown; name: unknown } | undefined,
  ): void {
    const parameterName =
      isPlainObject(threshold) && intrinsicName(threshold) === 'Ref' && typeof threshold.Ref === 'string'
        ? threshold.Ref
        : undefined;
    const parameter = parameterName === undefined ? undefined : this.template.Parameters?.[parameterName];
    if (parameterName === undefined || parameter === undefined) {
      this.report(
        location,
        `must be a Ref to a parameter, so that each environment can set it; got ${
          parameterName === undefined ? kindOf(threshold) : `a Ref to ${parameterName}`
        }`,
      );
      return;
    }
    if (typeof returned?.namespace !== 'string' || typeof returned.name !== 'string') return;
    const unit = awsMetric(returned.namespace, returned.name)?.unit;
    if (unit !== 'Milliseconds' && unit !== 'Seconds') return;
    const metric = `${returned.namespace} ${returned.name}`;
    const said = unitOf(parameterName, parameter);
    if (said === undefined) {
      this.report(
        location,
        `parameter ${parameterName} does not say its unit, and ${metric} is in ${unit.toLowerCase()}: name it …${unit} or say ${unit.toLowerCase()} in its Description`,
      );
    } else if (said !== unit) {
      this.report(
        location,
        `parameter ${parameterName} is in ${said.toLowerCase()}, but ${metric} is in ${unit.toLowerCase()}: give the threshold in ${unit.toLowerCase()}, or convert the metric with metric math`,
      );
    }
  }

  /**
   * `${…}` replaced by stand-ins: numbers for Number parameters (they may stand outside quotes), names otherwise.
   * A variable of the map whose value is text (a literal, or Fn::Sub or Fn::If of one) is replaced by that text, the
   * Fn::If branch the given conditions choose, so that a body may hold lines that exist only under a condition.
   */
  substitute(
    text: string,
    variables: Record<string, unknown>,
    conditions: Record<string, boolean> = {},
  ): string {
    return text.replace(/\$\{([^}]*)\}/g, (whole, inner: string) => {
      const name = inner.trim();
      if (name.startsWith('!')) return whole;
      if (name in variables) return this.textOf(variables[name], conditions) ?? `sub-${name}`;
      const parameter = this.template.Parameters?.[name];
      if (parameter?.Type === 'Number') return String(parameter.Default ?? 0);
      if (parameter !== undefined) return String(parameter.Default ?? name).replace(/["\\]/g, '');
      if (PSEUDO_PARAMETERS.has(name)) return `pseudo-${name.slice(5)}`;
      return `ref-${name}`;
    });
  }

  /** The text a Fn::Sub variable stands for under these conditions, when it is text at all (not a Ref, say). */
  textOf(value: unknown, conditions: Record<string, boolean>): string | undefined {
    if (typeof value === 'string') return value;
    const name = intrinsicName(value);
    const args = isPlainObject(value) && name !== undefined ? value[name] : undefined;
    if (name === 'Fn::If' && Array.isArray(args) && typeof args[0] === 'string')
      return this.textOf(conditions[args[0]] ? args[1] : args[2], conditions);
    if (name === 'Fn::Sub') {
      const [source, variables] = Array.isArray(args) ? args : [args, {}];
      if (typeof source === 'string' && isPlainObject(variables))
        return this.substitute(source, variables, conditions);
    }
    return undefined;
  }

  checkDashboard(logicalId: string, properties: Record<string, unknown>): void {
    const location = at({ resource: logicalId, path: '' }, 'DashboardBody');
    const body = properties.DashboardBody;
    const args = intrinsicName(body) === 'Fn::Sub' ? (body as Record<string, unknown>)['Fn::Sub'] : body;
    const [source, variables] = Array.isArray(args) ? args : [args, {}];
    if (typeof source !== 'string' || !isPlainObject(variables)) {
      this.report(location, 'expected a JSON string, or Fn::Sub of one');
      return;
    }
    // Each combination of the conditions its variables choose by is a body CloudFormation may deploy.
    const conditions = [...new Set(JSON.stringify(variables).match(/(?<="Fn::If":\[")[^"]+/g))];
    const before = this.findings.length;
    for (let combination = 0; combination < 2 ** Math.min(conditions.length, 6); combination++) {
      const chosen = Object.fromEntries(
        conditions.map((name, bit) => [name, ((combination >> bit) & 1) === 1]),
      );
      this.checkDashboardText(
        location,
        typeof body === 'string' ? body : this.substitute(source, variables, chosen),
      );
    }
    // A problem found in several of them is one finding.
    const found = this.findings.splice(before).map((item) => JSON.stringify(item));
    for (const item of new Set(found)) this.findings.push(JSON.parse(item) as Finding);
  }

  checkDashboardText(location: Location, text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      this.report(location, `is not JSON once its \${…} are substituted: ${(error as Error).message}`);
      return;
    }
    const widgets = isPlainObject(parsed) ? parsed.widgets : undefined;
    if (!Array.isArray(widgets)) {
      this.report(location, 'needs a widgets list');
      return;
    }
    widgets.forEach((widget, index) => {
      if (!isPlainObject(widget) || !isPlainObject(widget.properties)) {
        this.report(location, `widget ${index} needs properties`);
        return;
      }
      const widgetProperties = widget.properties;
      const name = `widget ${index}${typeof widgetProperties.title === 'string' ? ` (${widgetProperties.title})` : ''}`;
      if (widget.type !== 'metric') return;
      if (typeof widgetProperties.region !== 'string') this.report(location, `${name} needs a region`);
      if (!Array.isArray(widgetProperties.metrics)) {
        this.report(location, `${name} needs a metrics list`);
        return;
      }
      let previous: unknown[] = [];
      widgetProperties.metrics.forEach((entry, metricIndex) => {
        if (!Array.isArray(entry)) {
          this.report(location, `${name}, metric ${metricIndex}: expected a list`);
          return;
        }
        const fields = isPlainObject(entry.at(-1)) ? entry.slice(0, -1) : entry;
        if (fields.length === 0) return; // an expression: only its options
        // "." repeats the value at the same position in the metric above.
        const resolved = fields.map((field, position) => (field === '.' ? previous[position] : field));
        previous = resolved;
        const [namespace, metricName, ...pairs] = resolved;
        const unknown = typeof namespace === 'string' ? namespaceProblem(namespace) : undefined;
        if (unknown !== undefined) {
          this.report(location, `${name}, metric ${metricIndex}: ${unknown}`);
          return;
        }
        if (pairs.length % 2 !== 0) {
          this.report(location, `${name}, metric ${metricIndex}: dimensions come in name, value pairs`);
          return;
        }
        const dimensions: Dimension[] = [];
        for (let i = 0; i < pairs.length; i += 2)
          dimensions.push({ name: String(pairs[i]), value: pairs[i + 1] });
        if (
          dimensions.length === 0 &&
          dimensionProblem(String(namespace), String(metricName), []) !== undefined
        ) {
          this.report(location, `${name}, metric ${metricIndex}: ${String(metricName)} needs dimensions`);
          return;
        }
        for (const problem of metricProblems(namespace, metricName, dimensions, this.powertools)) {
          this.report(location, `${name}, metric ${metricIndex}: ${problem}`);
        }
      });
    });
  }
}

export const checkObservability = (template: Template): Finding[] => {
  const checker = new ObservabilityChecker(template);
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (!isPlainObject(resource) || !isPlainObject(resource.Properties)) continue;
    if (resource.Type === 'AWS::CloudWatch::Alarm') checker.checkAlarm(logicalId, resource.Properties);
    if (resource.Type === 'AWS::CloudWatch::Dashboard')
      checker.checkDashboard(logicalId, resource.Properties);
  }
  return checker.findings;
};
