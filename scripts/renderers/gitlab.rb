# What GitLab's test report shows for a JUnit file, computed by GitLab's own parser.
#
# Usage: ruby gitlab.rb GITLAB_SRC_DIR REPORT.xml
#        ruby gitlab.rb GITLAB_SRC_DIR --metrics METRICS.txt
#
# GITLAB_SRC_DIR is a directory holding, at their paths in the GitLab repository:
#   lib/gitlab/xml_converter.rb, lib/gitlab/ci/parsers/parser_error.rb,
#   lib/gitlab/ci/parsers/test/junit.rb, lib/gitlab/ci/reports/test_case.rb,
#   lib/gitlab/ci/reports/test_suite.rb
# and, for --metrics, ee/lib/gitlab/ci/parsers/metrics/generic.rb.
# Needs ruby, nokogiri and activesupport (Debian: ruby ruby-nokogiri ruby-activesupport).
# Prints one JSON object per test case: what GitLab keeps of it (and so what it can show).
require 'json'
require 'digest'
require 'nokogiri'
require 'active_support'
require 'active_support/core_ext'
require 'active_support/xml_mini'

src, report = ARGV
abort('usage: ruby gitlab.rb GITLAB_SRC_DIR REPORT.xml') unless src && report

# GitLab's initializers choose Nokogiri for XML; its parser relies on that.
ActiveSupport::XmlMini.backend = 'Nokogiri'
# GitLab's translation helper, as used by its XML converter's error message.
def _(text) = text

if report == '--metrics'
  require File.join(File.expand_path(src), 'lib/gitlab/ci/parsers/parser_error.rb')
  require File.join(File.expand_path(src), 'ee/lib/gitlab/ci/parsers/metrics/generic.rb')
  # GitLab's error tracker, which the metrics parser calls before it gives up on a file.
  module Gitlab
    module Sentry
      def self.track_and_raise_for_dev_exception(error) = warn("metrics parser: #{error}")
    end
  end
  # What GitLab keeps of the report: name → value, as strings.
  metrics = Class.new do
    attr_reader :metrics

    def initialize = @metrics = {}
    def add_metric(name, value) = @metrics[name] = value
  end.new
  begin
    Gitlab::Ci::Parsers::Metrics::Generic.new.parse!(File.read(ARGV[2]), metrics)
  rescue StandardError => e
    puts({ error: e.message }.to_json)
    exit 1
  end
  metrics.metrics.each { |name, value| puts({ name: name, value: value }.to_json) }
  exit 0
end

%w[lib/gitlab/xml_converter.rb lib/gitlab/ci/parsers/parser_error.rb lib/gitlab/ci/reports/test_case.rb
   lib/gitlab/ci/reports/test_suite.rb lib/gitlab/ci/parsers/test/junit.rb].each do |file|
  require File.join(File.expand_path(src), file)
end

# The parts of a CI job and of a test report that the parser calls.
Job = Struct.new(:test_suite_name, :max_test_cases_per_report, :project, :id)
class Report
  def initialize = @suites = {}
  def get_suite(name) = (@suites[name] ||= Gitlab::Ci::Reports::TestSuite.new(name))
end

job = Job.new('llmspec', 0, nil, 1)
test_report = Report.new
Gitlab::Ci::Parsers::Test::Junit.new.parse!(File.read(report), test_report, job: job)
suite = test_report.get_suite('llmspec')
if suite.suite_error
  puts({ suite_error: suite.suite_error }.to_json)
  exit 1
end
suite.each_test_case do |tc|
  puts({
    suite: tc.suite_name, classname: tc.classname, name: tc.name, status: tc.status, file: tc.file,
    # GitLab serialises the kept value as is: a Hash reaches the page as JSON.
    system_output: tc.system_output.is_a?(String) || tc.system_output.nil? ? tc.system_output : tc.system_output.to_json,
    attachment: tc.attachment
  }.to_json)
end
